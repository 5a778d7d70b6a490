import { type ReactNode, useEffect, useRef } from 'react';
import { ErrorMessage } from './error-message.js';

/**
 * A modal confirmation of an action that cannot be undone (delete, revoke, rotate). It shows while
 * `open`, which callers set once it can name what it acts on, and opens focused on Cancel, so a
 * second Enter does not confirm. Closing it any way (Cancel, Escape) calls `onClose`.
 */
export function ConfirmDialog({
  id,
  open,
  title,
  children,
  error,
  errorTitle,
  confirm,
  busy,
  onConfirm,
  onClose,
}: {
  /** Prefix of the title's and the description's element ids. */
  id: string;
  open: boolean;
  title: ReactNode;
  /** What confirming does, in a sentence or two. */
  children: ReactNode;
  error: unknown;
  errorTitle: string;
  /** The confirm button's label. */
  confirm: string;
  busy: boolean;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    const d = dialog.current;
    if (open && !d?.open) {
      d?.showModal();
      cancel.current?.focus();
    } else if (!open && d?.open) d.close();
  }, [open]);

  return (
    <dialog
      ref={dialog}
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-desc`}
      onClose={onClose}
    >
      {open ? (
        <>
          <h2 id={`${id}-title`}>{title}</h2>
          <p id={`${id}-desc`}>{children}</p>
          <ErrorMessage error={error} title={errorTitle} />
          <div className="actions">
            <button type="button" className="danger" disabled={busy} onClick={onConfirm}>
              {confirm}
            </button>
            <button
              ref={cancel}
              type="button"
              className="secondary"
              onClick={() => dialog.current?.close()}
            >
              Cancel
            </button>
          </div>
        </>
      ) : null}
    </dialog>
  );
}

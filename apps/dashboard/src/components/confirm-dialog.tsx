import { type ReactNode, useEffect, useRef } from 'react';
import { ErrorMessage } from './error-message.js';

/**
 * A modal confirmation of an action that cannot be undone (delete, revoke, rotate). It shows while
 * `open`, which callers set once it can name what it acts on, and opens focused on Cancel, so a
 * second Enter does not confirm. Closing it any way (Cancel, Escape) calls `onClose`.
 *
 * Cancel and Escape call `onClose` at once rather than from the `close` event, which the browser
 * fires in a task of its own after the dialog has closed: on a busy page the person may already
 * have pressed the row's button again, which (with `open` still true) would not reopen it, and the
 * late event would then close it. A `close` event that arrives while the dialog is open again is
 * such a late one and is ignored.
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
      onCancel={onClose}
      onClose={() => {
        if (!dialog.current?.open) onClose();
      }}
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
              onClick={() => {
                onClose();
                dialog.current?.close();
              }}
            >
              Cancel
            </button>
          </div>
        </>
      ) : null}
    </dialog>
  );
}

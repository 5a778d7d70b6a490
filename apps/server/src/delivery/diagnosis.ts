/**
 * What went wrong with one attempt and how to fix it, in words, for the test action (the
 * dashboard's Tester): from the attempt's SPEC error code, its status, what Node or undici threw
 * (`SendResult.detail`) and the receiver's answer. Pure: no I/O, the same input says the same.
 */
import type { AttemptError, BodyEncoding } from '../store/types.js';
import type { ErrorDetail } from './sender.js';

export interface Diagnosis {
  /** A stable name for the cause, finer than the attempt's error (`tls_expired`, `redirect`…). */
  code: string;
  message: string;
  fix: string;
}

export interface DiagnosisInput {
  url: string;
  error: AttemptError | null;
  statusCode: number | null;
  responseHeaders: Record<string, string>;
  responseBody: string | null;
  responseBodyEncoding: BodyEncoding | null;
  detail?: ErrorDetail | undefined;
  /** The delivery timeout (`AF_DELIVERY_TIMEOUT`). */
  timeoutMs: number;
}

/** How much of the receiver's body a diagnosis quotes. */
export const QUOTED_BODY_CHARS = 200;

const SELF_SIGNED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** Null when the attempt succeeded. */
export function diagnose(d: DiagnosisInput): Diagnosis | null {
  if (d.error === null) return null;
  const target = describeTarget(d.url);
  switch (d.error) {
    case 'dns_error':
      return {
        code: 'dns_error',
        message: `The host name ${target.host} does not resolve${codeSuffix(d.detail)}.`,
        fix: `Check the spelling of ${target.host} in the webhook URL and that its DNS record exists and is public.`,
      };
    case 'connection_refused':
      return {
        code: 'connection_refused',
        message: `Nothing accepts connections on ${target.hostPort}: the connection was refused.`,
        fix: `Start the receiver, check that it listens on port ${target.port} of that host, and that no firewall rejects the connection.`,
      };
    case 'tls_error':
      return tls(d, target);
    case 'timeout': {
      const s = formatSeconds(d.timeoutMs);
      return {
        code: 'timeout',
        message:
          d.statusCode === null
            ? `No answer within the delivery timeout of ${s}.`
            : `The receiver sent status ${d.statusCode} but its body did not finish within the delivery timeout of ${s}.`,
        fix: `Answer 2xx within ${s}: acknowledge the event at once and process it asynchronously (a queue, a background job).`,
      };
    }
    case 'redirect': {
      const location = d.responseHeaders.location;
      return {
        code: 'redirect',
        message: `The receiver answered ${d.statusCode ?? '3xx'}, a redirect, which is not followed${
          location ? `: it pointed to ${location}` : ' (no Location header)'
        }.`,
        fix: location
          ? `Register the final URL (${resolveLocation(location, d.url)}) as the webhook URL.`
          : 'Register the final URL of the receiver as the webhook URL; redirects are never followed.',
      };
    }
    case 'response_status':
      return status(d);
    case 'blocked_address':
      return {
        code: 'blocked_address',
        message: `${target.host} is (or resolves to) a private, loopback or link-local address, which this service does not deliver to.`,
        fix: 'Use a public URL for the receiver; an operator who means to deliver inside a private network sets AF_ALLOW_PRIVATE_NETWORKS=true (metadata addresses stay refused).',
      };
    case 'endpoint_disabled':
      return {
        code: 'endpoint_disabled',
        message: 'Nothing was sent: the webhook is disabled or was deleted.',
        fix: 'Enable the webhook (set it active) or register it again.',
      };
    case 'configuration_error':
      return {
        code: 'configuration_error',
        message:
          "Nothing was sent: the request could not be built (a secret or custom headers this service's key does not decrypt, or a header value the HTTP client refuses).",
        fix: "Rotate the webhook's secret and save its custom headers again; check AF_ENCRYPTION_KEY is the key they were saved with.",
      };
    case 'connection_error':
      return {
        code: 'connection_error',
        message: `The connection to ${target.hostPort} failed${codeSuffix(d.detail)}${
          d.detail?.message ? `: ${d.detail.message}` : ''
        }.`,
        fix: 'Check that the receiver is up and reachable from this service, and that it does not close connections before answering.',
      };
  }
}

function tls(d: DiagnosisInput, target: Target): Diagnosis {
  const code = d.detail?.code ?? '';
  const message = d.detail?.message ?? '';
  if (code === 'CERT_HAS_EXPIRED')
    return {
      code: 'tls_certificate_expired',
      message: `The TLS certificate of ${target.host} has expired.`,
      fix: 'Renew the certificate (automate it, e.g. with Let’s Encrypt) and reload the server.',
    };
  if (code === 'CERT_NOT_YET_VALID')
    return {
      code: 'tls_certificate_not_yet_valid',
      message: `The TLS certificate of ${target.host} is not valid yet.`,
      fix: "Check the server's clock and the certificate's start date.",
    };
  if (SELF_SIGNED.has(code))
    return {
      code: 'tls_untrusted_certificate',
      message: `The TLS certificate of ${target.host} is self-signed or issued by an unknown CA (${code}).`,
      fix: 'Use a certificate from a public CA (Let’s Encrypt is free), and serve the full chain including intermediates.',
    };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH')
    return {
      code: 'tls_hostname_mismatch',
      message: `The TLS certificate does not name ${target.host}${message ? `: ${message}` : ''}.`,
      fix: `Use a certificate whose subject alternative names include ${target.host}, or register the URL with a host name the certificate names.`,
    };
  if (
    code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' ||
    code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' ||
    code === 'ERR_SSL_NO_PROTOCOLS_AVAILABLE' ||
    /protocol version|unsupported protocol|no protocols available/i.test(message)
  )
    return {
      code: 'tls_protocol_version',
      message: `${target.host} offers only TLS versions below 1.2, which this service refuses.`,
      fix: 'Enable TLS 1.2 or 1.3 on the receiver (and disable TLS 1.0/1.1).',
    };
  return {
    code: 'tls_error',
    message: `The TLS handshake with ${target.host} failed${codeSuffix(d.detail)}${
      message ? `: ${message}` : ''
    }.`,
    fix: 'Check that the receiver speaks HTTPS on that port with a valid certificate from a public CA that names the host, and TLS 1.2 or later.',
  };
}

function status(d: DiagnosisInput): Diagnosis {
  const s = d.statusCode ?? 0;
  const quoted = quoteBody(d.responseBody, d.responseBodyEncoding);
  const message = `The receiver answered ${s}${quoted ? ` with: ${quoted}` : ' with an empty body'}.`;
  if (s === 400 || s === 401 || s === 403)
    return {
      code: 'response_status',
      message,
      fix: 'If the receiver checks signatures: verify with the webhook’s current secret (whsec_…), over the raw request body exactly as received (before any JSON parsing), and allow the timestamp tolerance. Otherwise see its answer above.',
    };
  if (s === 404 || s === 405)
    return {
      code: 'response_status',
      message,
      fix: 'Check the path of the webhook URL and that the receiver accepts POST there.',
    };
  if (s === 410)
    return {
      code: 'response_status',
      message,
      fix: '410 Gone disables the webhook on normal deliveries: register the receiver’s current URL, or make it answer 2xx.',
    };
  if (s === 413)
    return {
      code: 'response_status',
      message,
      fix: "Raise the receiver's request body limit.",
    };
  if (s === 429)
    return {
      code: 'response_status',
      message,
      fix: 'The receiver rate-limits: raise its limit for this sender; deliveries are retried, honouring Retry-After.',
    };
  if (s >= 500)
    return {
      code: 'response_status',
      message,
      fix: 'The receiver failed while handling the event: see its logs for the error. Answer 2xx once the event is stored, and process it afterwards.',
    };
  return {
    code: 'response_status',
    message,
    fix: 'Make the receiver answer a 2xx status for events it accepted.',
  };
}

interface Target {
  host: string;
  port: string;
  hostPort: string;
}

function describeTarget(url: string): Target {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    return { host: u.hostname, port, hostPort: `${u.hostname}:${port}` };
  } catch {
    return { host: url, port: '?', hostPort: url };
  }
}

function resolveLocation(location: string, base: string): string {
  try {
    return new URL(location, base).toString();
  } catch {
    return location;
  }
}

function quoteBody(body: string | null, encoding: BodyEncoding | null): string {
  if (body === null || body === '') return '';
  if (encoding === 'base64') return '(a binary body, shown base64 in the response)';
  const text = body.replace(/\s+/g, ' ').trim();
  return text.length > QUOTED_BODY_CHARS ? `"${text.slice(0, QUOTED_BODY_CHARS)}…"` : `"${text}"`;
}

function codeSuffix(detail: ErrorDetail | undefined): string {
  return detail?.code ? ` (${detail.code})` : '';
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

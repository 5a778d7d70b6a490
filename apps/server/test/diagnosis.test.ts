/**
 * `diagnose`: each failure of an attempt in words, with its fix (the test action's diagnosis).
 * The cases that need the network are also run against real receivers in
 * `api-test-action.test.ts`; DNS and the configuration failures only here.
 */
import { describe, expect, it } from 'vitest';
import { type DiagnosisInput, diagnose } from '../src/delivery/diagnosis.js';
import { errorDetail } from '../src/delivery/sender.js';

const base: DiagnosisInput = {
  url: 'https://hooks.example.com:8443/in',
  error: null,
  statusCode: 200,
  responseHeaders: {},
  responseBody: 'ok',
  responseBodyEncoding: 'utf8',
  timeoutMs: 5000,
};
const failed = (over: Partial<DiagnosisInput>) =>
  diagnose({ ...base, statusCode: null, responseBody: null, responseBodyEncoding: null, ...over });
const tls = (code: string, message = '') =>
  failed({ error: 'tls_error', detail: { code, message } });

describe('diagnose', () => {
  it('is null on success', () => {
    expect(diagnose(base)).toBeNull();
  });

  it('dns_error names the host', () => {
    const d = failed({ error: 'dns_error', detail: { code: 'ENOTFOUND', message: 'x' } });
    expect(d).toMatchObject({ code: 'dns_error' });
    expect(d!.message).toContain('hooks.example.com');
    expect(d!.message).toContain('ENOTFOUND');
    expect(d!.fix).toMatch(/spelling.*DNS record/);
  });

  it('connection refused names host and port', () => {
    const d = failed({ error: 'connection_refused' });
    expect(d!.code).toBe('connection_refused');
    expect(d!.message).toContain('hooks.example.com:8443');
    expect(d!.fix).toMatch(/Start the receiver.*port 8443.*firewall/);
    expect(failed({ error: 'connection_refused', url: 'http://h.example/' })!.message).toContain(
      'h.example:80',
    );
  });

  it('tells the TLS failures apart by the underlying code', () => {
    expect(tls('CERT_HAS_EXPIRED')).toMatchObject({
      code: 'tls_certificate_expired',
      fix: expect.stringMatching(/Renew/),
    });
    for (const c of [
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    ]) {
      expect(tls(c)).toMatchObject({
        code: 'tls_untrusted_certificate',
        fix: expect.stringMatching(/public CA.*Let’s Encrypt/),
      });
    }
    expect(tls('ERR_TLS_CERT_ALTNAME_INVALID', 'Hostname/IP does not match')).toMatchObject({
      code: 'tls_hostname_mismatch',
      message: expect.stringContaining('hooks.example.com'),
      fix: expect.stringMatching(/subject alternative names include hooks\.example\.com/),
    });
    for (const [c, m] of [
      ['ERR_SSL_UNSUPPORTED_PROTOCOL', ''],
      ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'tlsv1 alert protocol version'],
      ['EPROTO', 'error:0A00042E:SSL routines::tlsv1 alert protocol version'],
    ] as const) {
      expect(tls(c, m)).toMatchObject({
        code: 'tls_protocol_version',
        fix: expect.stringMatching(/TLS 1\.2/),
      });
    }
    expect(tls('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number')).toMatchObject({
      code: 'tls_error',
      message: expect.stringContaining('ERR_SSL_WRONG_VERSION_NUMBER'),
    });
    // Without any detail (a stored attempt) it is still a TLS diagnosis.
    expect(failed({ error: 'tls_error' })!.code).toBe('tls_error');
  });

  it('timeout says the timeout and to answer first', () => {
    const d = failed({ error: 'timeout' });
    expect(d).toMatchObject({ code: 'timeout' });
    expect(d!.message).toContain('5 s');
    expect(d!.fix).toMatch(/2xx.*asynchronously/);
    expect(failed({ error: 'timeout', timeoutMs: 1500 })!.message).toContain('1500 ms');
    expect(failed({ error: 'timeout', statusCode: 200 })!.message).toMatch(/status 200.*body/);
  });

  it('a redirect says where it pointed, resolved against the URL', () => {
    const d = failed({
      error: 'redirect',
      statusCode: 302,
      responseHeaders: { location: '/v2/in' },
    });
    expect(d!.code).toBe('redirect');
    expect(d!.message).toContain('302');
    expect(d!.message).toContain('/v2/in');
    expect(d!.fix).toContain('https://hooks.example.com:8443/v2/in');
    expect(failed({ error: 'redirect', statusCode: 301 })!.message).toContain('no Location');
  });

  it('an error status quotes the start of the body; 401/400 hint at signatures', () => {
    const long = 'x'.repeat(500);
    const d = failed({
      error: 'response_status',
      statusCode: 500,
      responseBody: `boom\n${long}`,
      responseBodyEncoding: 'utf8',
    });
    expect(d!.message).toContain('500');
    expect(d!.message).toContain('"boom x');
    expect(d!.message.length).toBeLessThan(300);
    expect(d!.fix).toMatch(/logs/);
    for (const s of [400, 401]) {
      const sig = failed({
        error: 'response_status',
        statusCode: s,
        responseBody: 'bad signature',
      });
      expect(sig!.message).toContain(String(s));
      expect(sig!.fix).toMatch(/secret.*raw request body/);
    }
    expect(
      failed({
        error: 'response_status',
        statusCode: 502,
        responseBody: 'AAEC',
        responseBodyEncoding: 'base64',
      })!.message,
    ).toContain('binary');
    expect(failed({ error: 'response_status', statusCode: 404 })!.message).toContain('empty body');
  });

  it('blocked, disabled, configuration and other connection errors say what to do', () => {
    expect(failed({ error: 'blocked_address' })!.fix).toContain('AF_ALLOW_PRIVATE_NETWORKS');
    expect(failed({ error: 'endpoint_disabled' })!.fix).toMatch(/Enable the webhook/);
    expect(failed({ error: 'configuration_error' })!.fix).toMatch(/secret.*headers/);
    expect(
      failed({
        error: 'connection_error',
        detail: { code: 'ECONNRESET', message: 'socket hang up' },
      })!.message,
    ).toContain('ECONNRESET');
  });
});

describe('errorDetail', () => {
  it('prefers the system or TLS code below undici’s wrapper', () => {
    const inner = Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' });
    const outer = Object.assign(new Error('other side closed'), {
      code: 'UND_ERR_SOCKET',
      cause: inner,
    });
    expect(errorDetail(outer)).toEqual({
      code: 'CERT_HAS_EXPIRED',
      message: 'certificate has expired',
    });
    expect(errorDetail(Object.assign(new Error('w'), { code: 'UND_ERR_SOCKET' }))).toEqual({
      code: 'UND_ERR_SOCKET',
      message: 'w',
    });
    expect(errorDetail(new Error('plain'))).toEqual({ code: undefined, message: 'plain' });
  });
});

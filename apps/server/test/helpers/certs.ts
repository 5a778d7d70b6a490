/**
 * Certificates for HTTPS receivers on loopback, made with the system's `openssl`: self-signed for
 * `san` (e.g. `IP:127.0.0.1,DNS:localhost`), valid for `days` (default one), or expired (dated
 * 2020).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type Cert = {
  key: Buffer;
  cert: Buffer;
  /** The PEM file of the certificate, for NODE_EXTRA_CA_CERTS. */
  certPath: string;
};

/** A key and a self-signed certificate in a new folder `name` under `dir`. */
export function selfSignedCert(
  dir: string,
  name: string,
  san: string,
  expired = false,
  days = 1,
): Cert {
  const d = join(dir, name);
  mkdirSync(d);
  const key = join(d, 'key.pem');
  const cert = join(d, 'cert.pem');
  if (!expired) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        String(days),
        '-subj',
        '/CN=tester',
        '-addext',
        `subjectAltName=${san}`,
      ],
      { stdio: 'ignore' },
    );
  } else {
    // OpenSSL 3.0's `req` cannot date a certificate in the past; `ca -selfsign` can.
    mkdirSync(join(d, 'db'));
    writeFileSync(join(d, 'db', 'index.txt'), '');
    writeFileSync(join(d, 'db', 'serial'), '01\n');
    writeFileSync(
      join(d, 'ca.cnf'),
      `[ca]\ndefault_ca = d\n[d]\ndatabase = ${d}/db/index.txt\nserial = ${d}/db/serial\nnew_certs_dir = ${d}/db\ndefault_md = sha256\npolicy = p\nx509_extensions = e\n[p]\ncommonName = supplied\n[e]\nsubjectAltName = ${san}\n`,
    );
    const csr = join(d, 'req.csr');
    execFileSync(
      'openssl',
      ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=tester'],
      { stdio: 'ignore' },
    );
    execFileSync(
      'openssl',
      [
        'ca',
        '-batch',
        '-config',
        join(d, 'ca.cnf'),
        '-selfsign',
        '-keyfile',
        key,
        '-in',
        csr,
        '-out',
        cert,
        '-startdate',
        '20200101000000Z',
        '-enddate',
        '20200102000000Z',
        '-notext',
      ],
      { stdio: 'ignore' },
    );
  }
  return { key: readFileSync(key), cert: readFileSync(cert), certPath: cert };
}

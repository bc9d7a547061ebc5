/**
 * Which servers a store trusts. By default Node's: its root certificates and NODE_EXTRA_CA_CERTS (read by
 * Node at startup, in every thread). With `ca_bundle` (a PEM file of certificate authorities, as the AWS
 * CLI and SDKs name it), the store gets connections of its own (http1-client.ts) trusting those beside Node's; giving
 * TLS a `ca` list replaces its defaults, so Node's roots and NODE_EXTRA_CA_CERTS are put in the list too.
 *
 * A certificate that is not trusted fails the request at once (fetch-object.ts does not retry it): no
 * retry can make it trusted.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { InvalidArgumentError } from '../../errors.js';
import { Agent } from './http1-client.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of the PEM file at `path` (ca_bundle), each checked to parse. */
function readBundle(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new InvalidArgumentError(
      `options.storage.ca_bundle (or AWS_CA_BUNDLE): cannot read ${path}: ${(cause as Error).message}`,
      { option: 'storage.ca_bundle', path },
    );
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0)
    throw new InvalidArgumentError(
      `options.storage.ca_bundle (or AWS_CA_BUNDLE): ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
      { option: 'storage.ca_bundle', path },
    );
  certificates.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (cause) {
      throw new InvalidArgumentError(
        `options.storage.ca_bundle (or AWS_CA_BUNDLE): certificate ${i + 1} of ${path} does not parse: ${(cause as Error).message}`,
        { option: 'storage.ca_bundle', path },
      );
    }
  });
  return certificates;
}

/** Connections trusting `caBundle`'s authorities beside Node's, or undefined for the thread's shared ones (Node's trust). */
export function createTlsAgent(caBundle: string | undefined): Agent | undefined {
  if (caBundle === undefined) return undefined;
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  // Node itself only warns when NODE_EXTRA_CA_CERTS cannot be read; so does this (by leaving it out).
  const extraCertificates = extra ? (readFileSafely(extra).match(PEM_CERTIFICATE) ?? []) : [];
  return new Agent([...rootCertificates, ...extraCertificates, ...readBundle(caBundle)]);
}

function readFileSafely(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Node's error codes for a certificate that does not verify (the TLS socket's error code). */
const UNTRUSTED_CODES =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_[A-Z_]+|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** Why a server's certificate was refused, when `code` says that is why a connection failed; else undefined. */
export function untrustedCertificateReason(code: string | undefined, message: string): string | undefined {
  if (code === undefined || !UNTRUSTED_CODES.test(code)) return undefined;
  return (
    `the server's TLS certificate is not trusted (${code}: ${message}); ` +
    'give its certificate authority in options.storage.ca_bundle (a PEM file), AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS'
  );
}

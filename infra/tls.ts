// The certificate Traefik serves on every node (swarm-stacks/core.yml): the docker secrets
// tls_certificate (PEM, the certificate first, then any intermediates) and tls_private_key (PEM).
// For an origin behind Cloudflare that is a Cloudflare Origin CA certificate with Cloudflare's SSL
// mode "Full (strict)" (docs/swarm.md); any certificate the operator provides works the same way.
// Checked before deploy touches the Swarm, because a wrong pair takes HTTPS down on every node at
// once. Messages name the secret, never its content.
import { createPrivateKey, X509Certificate } from "node:crypto";

export const TLS_CERTIFICATE_SECRET = "tls_certificate";
export const TLS_PRIVATE_KEY_SECRET = "tls_private_key";
/** A certificate closer to its end than this is deployed with a warning. */
export const EXPIRY_WARNING_DAYS = 21;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export type CertificateSummary = { subject: string; issuer: string; validTo: Date; names: string[] };

/** Whether `host` is one of `names` (a `*.` name covers one label). */
export const covers = (names: readonly string[], host: string) =>
  names.some((name) => name.toLowerCase() === host.toLowerCase() || (name.startsWith("*.") && host.toLowerCase().endsWith(name.slice(1).toLowerCase()) && !host.slice(0, -(name.length - 1)).includes(".")));

/**
 * Checks the pair: a PEM certificate, a PEM private key that belongs to it, not expired at `now`.
 * Answers what the operator should see (subject, issuer, end date, names); notes for `log`.
 */
export function checkCertificatePair(certificatePem: string, privateKeyPem: string, now: Date, hosts: readonly string[]): { summary: CertificateSummary; notes: string[] } {
  const blocks = certificatePem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error(`docker secret ${TLS_CERTIFICATE_SECRET} holds no PEM certificate (-----BEGIN CERTIFICATE-----): put the origin certificate there, the server's certificate first`);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(blocks[0]!);
  } catch {
    throw new Error(`docker secret ${TLS_CERTIFICATE_SECRET}: its first PEM block is not a certificate that parses`);
  }
  let key;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    throw new Error(`docker secret ${TLS_PRIVATE_KEY_SECRET} is not a PEM private key (unencrypted: Traefik cannot read a key with a passphrase)`);
  }
  if (!certificate.checkPrivateKey(key)) throw new Error(`docker secret ${TLS_PRIVATE_KEY_SECRET} is not the private key of the certificate in ${TLS_CERTIFICATE_SECRET}`);
  const validTo = new Date(certificate.validTo);
  if (validTo.getTime() <= now.getTime()) throw new Error(`docker secret ${TLS_CERTIFICATE_SECRET}: the certificate expired on ${validTo.toISOString().slice(0, 10)}`);
  const names = (certificate.subjectAltName ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice(4));
  const summary: CertificateSummary = { subject: certificate.subject.replaceAll("\n", ", "), issuer: certificate.issuer.replaceAll("\n", ", "), validTo, names };
  const notes: string[] = [];
  const days = Math.floor((validTo.getTime() - now.getTime()) / 86_400_000);
  if (days < EXPIRY_WARNING_DAYS) notes.push(`! ${TLS_CERTIFICATE_SECRET} expires in ${days} days (${validTo.toISOString().slice(0, 10)}): put a new certificate in the secret and deploy`);
  const uncovered = hosts.filter((host) => !covers(names, host));
  if (uncovered.length > 0) notes.push(`! ${TLS_CERTIFICATE_SECRET} does not cover ${uncovered.join(", ")} (it names ${names.join(", ") || "no DNS name"}): Cloudflare's Full (strict) refuses those hosts`);
  return { summary, notes };
}

// A host's CSR, checked: parsed with @peculiar/asn1-csr, its signature verified with
// node:crypto over the CertificationRequestInfo exactly as it came, and its key one the CA
// accepts. Only the key is used from it: subject and requested extensions are ignored.
import { CertificationRequest } from '@peculiar/asn1-csr';
import { id_mgf1, RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, type SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { constants, verify, type KeyObject } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import { publicKeyFromSpki } from './public_key_import.js';

export function badCsr(message: string): ManagerError {
  return new ManagerError('VEIL_REGISTRATION_BAD_CSR', message);
}

export interface CheckedCsr {
  /** The key the certificate certifies, as the CSR carries it. */
  spki: SubjectPublicKeyInfo;
}

/** Digests by OID, for the signature algorithms and the RSASSA-PSS parameters. */
const HASHES: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** The CSR signatures taken (those @peculiar/x509 verified before): digest, and the key type they need. */
const SIGNATURES: Readonly<Record<string, { hash: string; key: 'ec' | 'rsa' }>> = {
  '1.2.840.10045.4.1': { hash: 'sha1', key: 'ec' },
  '1.2.840.10045.4.3.2': { hash: 'sha256', key: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', key: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', key: 'ec' },
  '1.2.840.113549.1.1.5': { hash: 'sha1', key: 'rsa' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', key: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', key: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', key: 'rsa' },
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';

const PEM =
  /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END \1?CERTIFICATE REQUEST-----/;

function notACsr(): ManagerError {
  return badCsr('the CSR is not a PEM-encoded PKCS#10 certificate request');
}

function unsigned(): ManagerError {
  return badCsr('the CSR is not signed by the key it carries');
}

/** Host keys: P-256 or P-384, or RSA of 2048 bits or more. */
function checkHostKey(key: KeyObject): void {
  const details = key.asymmetricKeyDetails ?? {};
  const ok =
    (key.asymmetricKeyType === 'ec' && ['prime256v1', 'secp384r1'].includes(details.namedCurve ?? '')) ||
    (key.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= 2048);
  if (!ok) {
    const what = [key.asymmetricKeyType ?? 'unknown', details.namedCurve ?? details.modulusLength ?? '']
      .join(' ')
      .trim();
    throw badCsr(
      `the CSR's key (${what}) is not accepted: use EC P-256 or P-384, or RSA of 2048 bits or more`,
    );
  }
}

/** How the signature is checked: digest and options for node:crypto's verify. */
function verification(
  algorithm: string,
  parameters: ArrayBuffer | null | undefined,
  key: KeyObject,
): { hash: string; padding?: number; saltLength?: number } {
  const plain = SIGNATURES[algorithm];
  if (plain !== undefined) {
    if (plain.key !== key.asymmetricKeyType) throw unsigned();
    return { hash: plain.hash };
  }
  if (algorithm !== RSASSA_PSS || key.asymmetricKeyType !== 'rsa' || !parameters) throw unsigned();
  // Parse failures are caught by the caller: the CSR is then not signed as it says.
  const pss = AsnConvert.parse(parameters, RsaSaPssParams);
  const hash = HASHES[pss.hashAlgorithm.algorithm];
  const mgf = pss.maskGenAlgorithm;
  // node:crypto's PSS uses MGF1 with the signature's digest: other choices are refused.
  const mgfHash =
    mgf.algorithm === id_mgf1 && mgf.parameters
      ? HASHES[AsnConvert.parse(mgf.parameters, AlgorithmIdentifier).algorithm]
      : undefined;
  if (hash === undefined || mgfHash !== hash || pss.trailerField !== 1) throw unsigned();
  return { hash, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: pss.saltLength };
}

/** Parses and checks a CSR (PEM); throws VEIL_REGISTRATION_BAD_CSR with the reason. */
export function checkCsr(csrPem: string): CheckedCsr {
  const body = PEM.exec(csrPem)?.[2];
  if (body === undefined) throw notACsr();
  let csr: CertificationRequest;
  let key: KeyObject;
  try {
    csr = AsnConvert.parse(Buffer.from(body, 'base64'), CertificationRequest);
    key = publicKeyFromSpki(new Uint8Array(AsnConvert.serialize(csr.certificationRequestInfo.subjectPKInfo)));
  } catch {
    throw notACsr();
  }
  const signed = csr.certificationRequestInfoRaw;
  if (signed === undefined) throw notACsr();
  checkHostKey(key);
  let ok = false;
  try {
    const { hash, ...options } = verification(
      csr.signatureAlgorithm.algorithm,
      csr.signatureAlgorithm.parameters,
      key,
    );
    ok = verify(
      hash,
      new Uint8Array(signed),
      { key, dsaEncoding: 'der', ...options },
      new Uint8Array(csr.signature),
    );
  } catch {
    ok = false;
  }
  if (!ok) throw unsigned();
  return { spki: csr.certificationRequestInfo.subjectPKInfo };
}

/**
 * Who is allowed once known, whichever way they authenticated: AUTH_ALLOWED_GROUPS (any of) and
 * AUTH_ALLOWED_EMAIL_DOMAINS (exact domain, case-insensitive); with both set, both must hold.
 * Anyone else gets 403.
 */
import type { Identity } from './identity.ts';

export type AccessCheck = (identity: Identity) => boolean;

/**
 * The domain of an address: what follows the last `@` (RFC 5321 §4.1.2: a quoted local part may
 * itself hold an `@`), lower-cased (RFC 5321 §2.4: domains are case-insensitive).
 */
export function emailDomain(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  return at <= 0 || at === email.length - 1 ? undefined : email.slice(at + 1).toLowerCase();
}

/**
 * Undefined when neither list is set: everyone authenticated may pass. Domains match exactly, so
 * `example.com` allows `a@example.com` but not `a@evil-example.com` nor `a@sub.example.com`.
 * Group names match exactly (case-sensitive, as IdPs compare them). A Basic user has no groups
 * and no e-mail: with either list set, only JWT or session users can pass it.
 */
export function createAccessCheck(options: {
  groups?: readonly string[] | undefined;
  emailDomains?: readonly string[] | undefined;
}): AccessCheck | undefined {
  const groups = options.groups !== undefined && options.groups.length > 0 ? new Set(options.groups) : undefined;
  const domains =
    options.emailDomains !== undefined && options.emailDomains.length > 0
      ? new Set(options.emailDomains.map((domain) => domain.toLowerCase()))
      : undefined;
  if (groups === undefined && domains === undefined) return undefined;
  return (identity) => {
    if (groups !== undefined && !(identity.groups ?? []).some((group) => groups.has(group))) return false;
    if (domains !== undefined) {
      const domain = identity.email === undefined ? undefined : emailDomain(identity.email);
      if (domain === undefined || !domains.has(domain)) return false;
    }
    return true;
  };
}

/**
 * Email address rules shared by every part that derives something from the sender address.
 *
 * @module
 */

/**
 * The domain of an address, lower case: what SPF and DMARC check, what DKIM signs by default and
 * what a Message-ID carries. The last `@` splits it (a quoted local part may hold another).
 *
 * @example
 * fromDomain('No-Reply@Example.COM') // 'example.com'
 */
export function fromDomain(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

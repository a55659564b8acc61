/**
 * IP addresses and ranges in one canonical spelling, so that every per-address key
 * (bans, rate limits, admin lockout, logs) agrees on who a client is: IPv4 dotted quad,
 * IPv6 in RFC 5952 form (lower case, longest zero run compressed), and an IPv4-mapped
 * IPv6 address (`::ffff:1.2.3.4`, how a dual-stack socket shows an IPv4 client) as IPv4.
 */
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

/** A parsed range: `address` is the network address, so `10.1.2.3/8` is `10.0.0.0/8`. */
export type Cidr = { address: string; prefix: number; family: Family; text: string };

type Parsed = ipaddr.IPv4 | ipaddr.IPv6;

function unmap(parsed: Parsed): Parsed {
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
    ? (parsed as ipaddr.IPv6).toIPv4Address()
    : parsed;
}

/** Only the standard forms: `ipaddr.parse` alone also takes `0x7f.1` and `127.1`. */
function parse(address: string): Parsed | undefined {
  const text = address.trim();
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (ipaddr.IPv6.isValid(text)) return unmap(ipaddr.IPv6.parse(text));
  return undefined;
}

const familyOf = (parsed: Parsed): Family => (parsed.kind() === 'ipv4' ? 4 : 6);

/** The canonical spelling of an address, or undefined if it is not one. */
export function canonicalIp(address: string): string | undefined {
  return parse(address)?.toString();
}

export function ipFamily(address: string): Family | undefined {
  const parsed = parse(address);
  return parsed ? familyOf(parsed) : undefined;
}

/** `1.2.3.4` (a /32), `10.0.0.0/8`, `2001:db8::/32`; undefined if it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [rawIp = '', prefixText, ...rest] = text.trim().split('/');
  const parsed = parse(rawIp);
  if (!parsed || rest.length > 0) return undefined;
  const family = familyOf(parsed);
  const max = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  const network = networkOf(parsed, prefix);
  return {
    address: network,
    prefix,
    family,
    text: prefix === max ? network : `${network}/${prefix}`,
  };
}

function networkOf(parsed: Parsed, prefix: number): string {
  const cidr = `${parsed.toString()}/${prefix}`;
  return parsed.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(cidr).toString()
    : ipaddr.IPv6.networkAddressFromCIDR(cidr).toString();
}

/** Whether `address` lies inside `cidr` (an address of the other family never does). */
export function inCidr(address: string, cidr: Cidr): boolean {
  const parsed = parse(address);
  if (!parsed || familyOf(parsed) !== cidr.family) return false;
  return networkOf(parsed, cidr.prefix) === cidr.address;
}

/**
 * The key one client is counted under: its address for IPv4, its /`ipv6Prefix` network
 * for IPv6, since one host (or one phone) is handed a whole /64. Unparseable input is
 * returned as is, so it still gets a budget of its own.
 */
export function clientKey(address: string, ipv6Prefix: number): string {
  const parsed = parse(address);
  if (!parsed) return address;
  if (familyOf(parsed) === 4 || ipv6Prefix >= 128) return parsed.toString();
  return `${networkOf(parsed, ipv6Prefix)}/${ipv6Prefix}`;
}

/** A set of addresses and ranges to test addresses against. */
export class AddressSet {
  readonly #ranges: Cidr[];

  constructor(ranges: readonly Cidr[]) {
    this.#ranges = [...ranges];
  }

  has(address: string): boolean {
    const parsed = parse(address);
    if (!parsed) return false;
    const family = familyOf(parsed);
    return this.#ranges.some(
      (r) => r.family === family && networkOf(parsed, r.prefix) === r.address,
    );
  }
}

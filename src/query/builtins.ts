/**
 * Queries flowlens ships: AWS's sample Logs Insights queries for flow logs and the named
 * queries the VPC console offers, runnable with `flowlens query --run NAME`.
 */

export interface SavedQuery {
  readonly name: string;
  readonly query: string;
  readonly description: string;
  readonly builtin?: boolean;
}

const q = (name: string, description: string, query: string): SavedQuery => Object.freeze({ name, query, description, builtin: true });

/** The 7 sample queries from AWS's documentation, verbatim. */
export const AWS_SAMPLE_QUERIES: readonly SavedQuery[] = Object.freeze([
  q('aws-top-rejected-sources', 'Top 20 source IP addresses with the most rejected requests',
    'filter action="REJECT" | stats count(*) as numRejections by srcAddr | sort numRejections desc | limit 20'),
  q('aws-top-byte-transfers', 'Top 10 byte transfers by source and destination IP addresses',
    'stats sum(bytes) as bytesTransferred by srcAddr, dstAddr | sort bytesTransferred desc | limit 10'),
  q('aws-byte-stats-by-pair', 'Average, minimum and maximum bytes by source and destination IP addresses',
    'stats avg(bytes), min(bytes), max(bytes) by srcAddr, dstAddr'),
  q('aws-udp-by-source', 'Number of UDP flows by source IP address',
    'filter protocol=17 | stats count(*) by srcAddr'),
  q('aws-subnet-top-destinations', 'Top 15 destinations by bytes from hosts in 192.0.2.0/24',
    'filter isIpv4InSubnet(srcAddr, "192.0.2.0/24") | stats sum(bytes) as bytesTransferred by dstAddr | sort bytesTransferred desc | limit 15'),
  q('aws-skipdata-by-hour', 'SKIPDATA records (capacity loss) per hour',
    'filter logStatus="SKIPDATA" | stats count(*) by bin(1h) as t | sort t'),
  q('aws-top-packet-transfers', 'Top 15 packet transfers by source and destination IP addresses',
    'stats sum(packets) as packetsTransferred by srcAddr, dstAddr | sort packetsTransferred desc | limit 15'),
]);

/** Named queries in the spirit of the VPC console's flow log query list. */
export const CONSOLE_QUERIES: readonly SavedQuery[] = Object.freeze([
  q('top-talkers', 'Source/destination pairs moving the most bytes',
    'stats sum(bytes) as totalBytes, sum(packets) as totalPackets by srcAddr, dstAddr | sort totalBytes desc | limit 20'),
  q('rejected-tcp', 'Rejected TCP traffic by source, destination and port',
    'filter action = "REJECT" and protocol = 6 | stats count(*) as rejects by srcAddr, dstAddr, dstPort | sort rejects desc | limit 20'),
  q('ssh-rdp-rejects', 'Rejected SSH (22) and RDP (3389) connection attempts by source',
    'filter action = "REJECT" and protocol = 6 and dstPort in [22, 3389] | stats count(*) as attempts by srcAddr, dstPort | sort attempts desc | limit 20'),
  q('top-rejected-sources', 'Source addresses with the most rejected flows',
    'filter action = "REJECT" | stats count(*) as rejects, count_distinct(dstPort) as ports by srcAddr | sort rejects desc | limit 20'),
  q('traffic-by-protocol', 'Flows, packets and bytes per IP protocol',
    'filter logStatus = "OK" | stats count(*) as flows, sum(packets) as totalPackets, sum(bytes) as totalBytes by protocol | sort totalBytes desc'),
  q('top-destination-ports', 'Most used destination ports among accepted flows',
    'filter action = "ACCEPT" | stats count(*) as flows, sum(bytes) as totalBytes by dstPort, protocol | sort flows desc | limit 20'),
  q('rejects-over-time', 'Rejected flows per 5 minutes',
    'filter action = "REJECT" | stats count(*) as rejects by bin(5m) as t | sort t'),
  q('top-interfaces', 'Network interfaces moving the most bytes',
    'stats sum(bytes) as totalBytes, count(*) as flows by interfaceId | sort totalBytes desc | limit 20'),
  q('logging-health', 'NODATA and SKIPDATA records per interface (gaps and capacity loss)',
    'filter logStatus in ["NODATA", "SKIPDATA"] | stats count(*) as records, latest(@timestamp) as last by interfaceId, logStatus | sort records desc'),
  q('recent-rejects', 'The latest rejected flows, newest first',
    'filter action = "REJECT" | fields @timestamp, srcAddr, srcPort, dstAddr, dstPort, protocol, bytes | sort @timestamp desc | limit 50'),
]);

export const BUILTIN_QUERIES: readonly SavedQuery[] = Object.freeze([...AWS_SAMPLE_QUERIES, ...CONSOLE_QUERIES]);

/**
 * Port and protocol names, written for flowlens from the IANA registries ("Service Name and
 * Transport Protocol Port Number Registry" and "Assigned Internet Protocol Numbers") as of
 * 2026-06: the ports people meet in VPC flow logs, not the whole registry. Where IANA's keyword
 * is obscure the common name is used (postgresql, mysql, redis, https).
 */
export const PORT_TABLE_DATE = '2026-06';

/** `port: name` for services on both TCP and UDP unless marked `/tcp` or `/udp`. */
const PORTS = `
7 echo|20/tcp ftp-data|21/tcp ftp|22/tcp ssh|23/tcp telnet|25/tcp smtp|37 time|43/tcp whois|49 tacacs|53 domain|
67/udp bootps|68/udp bootpc|69/udp tftp|79/tcp finger|80/tcp http|88 kerberos|102/tcp iso-tsap|110/tcp pop3|111 sunrpc|
119/tcp nntp|123/udp ntp|135 msrpc|137/udp netbios-ns|138/udp netbios-dgm|139/tcp netbios-ssn|143/tcp imap|
161/udp snmp|162/udp snmptrap|179/tcp bgp|194/tcp irc|389 ldap|427 svrloc|443/tcp https|443/udp quic|445/tcp microsoft-ds|
464 kpasswd|465/tcp submissions|500/udp isakmp|502/tcp modbus|512/tcp exec|513/tcp login|514/tcp shell|514/udp syslog|
515/tcp printer|520/udp rip|546/udp dhcpv6-client|547/udp dhcpv6-server|554 rtsp|587/tcp submission|593/tcp http-rpc-epmap|
623/udp asf-rmcp|631 ipp|636/tcp ldaps|646 ldp|853/tcp domain-s|873/tcp rsync|902/tcp vmware-auth|989/tcp ftps-data|
990/tcp ftps|993/tcp imaps|995/tcp pop3s|1080/tcp socks|1194 openvpn|1433/tcp ms-sql-s|1434/udp ms-sql-m|1521/tcp oracle|
1701/udp l2tp|1723/tcp pptp|1812/udp radius|1813/udp radius-acct|1883/tcp mqtt|1900/udp ssdp|2049 nfs|2082/tcp cpanel|
2181/tcp zookeeper|2375/tcp docker|2376/tcp docker-s|2379/tcp etcd-client|2380/tcp etcd-server|2483/tcp oracle-db|
2484/tcp oracle-db-tls|3000/tcp grafana|3128/tcp squid-http|3260/tcp iscsi-target|3268/tcp msft-gc|3269/tcp msft-gc-ssl|
3306/tcp mysql|3389 ms-wbt-server|3478 stun|3690/tcp svn|4500/udp ipsec-nat-t|4505/tcp salt-pub|4506/tcp salt-ret|
4789/udp vxlan|5000/tcp upnp|5044/tcp beats|5060 sip|5061/tcp sips|5222/tcp xmpp-client|5353/udp mdns|5355/udp llmnr|
5432/tcp postgresql|5601/tcp kibana|5671/tcp amqps|5672/tcp amqp|5683/udp coap|5900/tcp vnc|5985/tcp wsman|5986/tcp wsmans|
6081/udp geneve|6379/tcp redis|6443/tcp kubernetes-api|6514/tcp syslog-tls|6881/tcp bittorrent|7001/tcp weblogic|
7199/tcp cassandra-jmx|7474/tcp neo4j|8000/tcp http-alt|8008/tcp http-alt|8080/tcp http-alt|8081/tcp http-alt|
8086/tcp influxdb|8088/tcp http-alt|8123/tcp clickhouse-http|8200/tcp vault|8300/tcp consul|8443/tcp https-alt|
8500/tcp consul-http|8883/tcp secure-mqtt|8888/tcp http-alt|9000/tcp clickhouse|9042/tcp cassandra|9090/tcp prometheus|
9092/tcp kafka|9093/tcp alertmanager|9100/tcp node-exporter|9200/tcp elasticsearch|9300/tcp elasticsearch-transport|
9418/tcp git|9443/tcp https-alt|10250/tcp kubelet|11211 memcache|15672/tcp rabbitmq-mgmt|27017/tcp mongodb|50051/tcp grpc|
51820/udp wireguard`;

/** Protocol numbers → IANA keywords (lower case). */
export const PROTOCOL_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'hopopt', 1: 'icmp', 2: 'igmp', 4: 'ipv4', 6: 'tcp', 8: 'egp', 9: 'igp', 17: 'udp', 27: 'rdp', 33: 'dccp', 41: 'ipv6',
  43: 'ipv6-route', 44: 'ipv6-frag', 46: 'rsvp', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'ipv6-icmp', 59: 'ipv6-nonxt',
  60: 'ipv6-opts', 88: 'eigrp', 89: 'ospf', 94: 'ipip', 97: 'etherip', 103: 'pim', 112: 'vrrp', 115: 'l2tp', 132: 'sctp',
  136: 'udplite', 137: 'mpls-in-ip',
});

export interface PortName {
  protocol: number;
  port: number;
  name: string;
}

/**
 * Every (protocol, port, name) of the shipped table: TCP (6), UDP (17) and SCTP (132, which
 * shares TCP's names).
 * @example portNames().find((p) => p.protocol === 6 && p.port === 443)?.name // 'https'
 */
export function portNames(): PortName[] {
  const out: PortName[] = [];
  for (const item of PORTS.split('|')) {
    const m = /^\s*(\d+)(?:\/(tcp|udp))?\s+(\S+)\s*$/.exec(item);
    if (!m) continue;
    const port = Number(m[1]);
    if (m[2] !== 'udp') out.push({ protocol: 6, port, name: m[3] }, { protocol: 132, port, name: m[3] });
    if (m[2] !== 'tcp') out.push({ protocol: 17, port, name: m[3] });
  }
  return out;
}

/** Ports that are services though above 1023: they win over a client port when normalising. */
export function registeredPorts(): number[] {
  return [...new Set(portNames().map((p) => p.port).filter((p) => p >= 1024))].sort((a, b) => a - b);
}

/**
 * DuckDB SQL for app_port: the service side of a connection, so a million client ports fold
 * into one value. A known service port wins; else a port below 1024; else the lower port (the
 * ephemeral ranges, 32768-60999 on Linux and 49152-65535 per IANA, sit above the services).
 * NULL for protocols without ports.
 */
export function appPortSql(src: string, dst: string, proto: string): string {
  const known = (p: string) => `(${p} < 1024 OR ${p} IN (${registeredPorts().join(', ')}))`;
  return (
    `CASE WHEN ${proto} NOT IN (6, 17, 132) OR ${src} IS NULL OR ${dst} IS NULL THEN NULL ` +
    `WHEN ${known(dst)} AND NOT ${known(src)} THEN ${dst} WHEN ${known(src)} AND NOT ${known(dst)} THEN ${src} ` +
    `ELSE least(${src}, ${dst}) END`
  );
}

/** DuckDB SQL: the protocol keyword, `proto-N` for unnamed numbers. */
export function protocolNameSql(proto: string): string {
  const names = Array.from({ length: 256 }, (_, i) => `'${PROTOCOL_NAMES[i] ?? `proto-${i}`}'`);
  return `CASE WHEN ${proto} BETWEEN 0 AND 255 THEN [${names.join(', ')}][${proto} + 1] END`;
}

import { describe, expect, it } from 'vitest';
import { compileInsights } from './index.ts';

/** ClickHouse SQL for the same queries as the DuckDB table (text only: no server in tests). */
const CASES: { query: string; sql: string; params: string[] }[] = [
  {
    "query": "filter action=\"REJECT\" | stats count(*) as numRejections by srcAddr | sort numRejections desc | limit 20",
    "sql": "SELECT \"g1\" AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT \"srcaddr\" AS \"g1\", count(*) AS \"a1\" FROM flows WHERE (\"action\" = {p1:String}) GROUP BY \"srcaddr\") AS q1 ORDER BY \"a1\" DESC NULLS LAST LIMIT 20",
    "params": [
      "REJECT"
    ]
  },
  {
    "query": "stats sum(bytes) as bytesTransferred by srcAddr, dstAddr | sort bytesTransferred desc | limit 10",
    "sql": "SELECT \"g1\" AS \"c1\", \"g2\" AS \"c2\", \"a1\" AS \"c3\" FROM (SELECT \"srcaddr\" AS \"g1\", \"dstaddr\" AS \"g2\", sum(\"bytes\") AS \"a1\" FROM flows GROUP BY \"srcaddr\", \"dstaddr\") AS q1 ORDER BY \"a1\" DESC NULLS LAST LIMIT 10",
    "params": []
  },
  {
    "query": "stats avg(bytes), min(bytes), max(bytes) by srcAddr, dstAddr",
    "sql": "SELECT \"g1\" AS \"c1\", \"g2\" AS \"c2\", \"a1\" AS \"c3\", \"a2\" AS \"c4\", \"a3\" AS \"c5\" FROM (SELECT \"srcaddr\" AS \"g1\", \"dstaddr\" AS \"g2\", avg(\"bytes\") AS \"a1\", min(\"bytes\") AS \"a2\", max(\"bytes\") AS \"a3\" FROM flows GROUP BY \"srcaddr\", \"dstaddr\") AS q1 LIMIT 10000",
    "params": []
  },
  {
    "query": "filter protocol=17 | stats count(*) by srcAddr",
    "sql": "SELECT \"g1\" AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT \"srcaddr\" AS \"g1\", count(*) AS \"a1\" FROM flows WHERE (\"protocol\" = 17) GROUP BY \"srcaddr\") AS q1 LIMIT 10000",
    "params": []
  },
  {
    "query": "filter isIpv4InSubnet(srcAddr, \"192.0.2.0/24\") | stats sum(bytes) as bytesTransferred by dstAddr | sort bytesTransferred desc | limit 15",
    "sql": "SELECT \"g1\" AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT \"dstaddr\" AS \"g1\", sum(\"bytes\") AS \"a1\" FROM flows WHERE startsWith(\"srcaddr\", '192.0.2.') GROUP BY \"dstaddr\") AS q1 ORDER BY \"a1\" DESC NULLS LAST LIMIT 15",
    "params": []
  },
  {
    "query": "filter logStatus=\"SKIPDATA\" | stats count(*) by bin(1h) as t | sort t",
    "sql": "SELECT if(abs(\"g1\") < 1e14, toString(fromUnixTimestamp64Milli(toInt64(floor(\"g1\")), 'UTC')), NULL) AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT (floor((\"start\" * 1000.0) / 3600000) * 3600000) AS \"g1\", count(*) AS \"a1\" FROM flows WHERE (\"log_status\" = {p1:String}) GROUP BY (floor((\"start\" * 1000.0) / 3600000) * 3600000)) AS q1 ORDER BY \"g1\" ASC NULLS LAST LIMIT 10000",
    "params": [
      "SKIPDATA"
    ]
  },
  {
    "query": "stats sum(packets) as packetsTransferred by srcAddr, dstAddr | sort packetsTransferred desc | limit 15",
    "sql": "SELECT \"g1\" AS \"c1\", \"g2\" AS \"c2\", \"a1\" AS \"c3\" FROM (SELECT \"srcaddr\" AS \"g1\", \"dstaddr\" AS \"g2\", sum(\"packets\") AS \"a1\" FROM flows GROUP BY \"srcaddr\", \"dstaddr\") AS q1 ORDER BY \"a1\" DESC NULLS LAST LIMIT 15",
    "params": []
  },
  {
    "query": "filter dstPort = 22 and action = \"REJECT\" | fields @timestamp, srcAddr, @logStream | limit 5",
    "sql": "SELECT if(abs((\"start\" * 1000.0)) < 1e14, toString(fromUnixTimestamp64Milli(toInt64(floor((\"start\" * 1000.0))), 'UTC')), NULL) AS \"c1\", \"srcaddr\" AS \"c2\", \"interface_id\" AS \"c3\" FROM flows WHERE ((\"dstport\" = 22) AND (\"action\" = {p1:String})) ORDER BY \"start\" DESC NULLS LAST LIMIT 5",
    "params": [
      "REJECT"
    ]
  },
  {
    "query": "filter isIpInSubnet(concat(srcaddr), \"192.0.2.0/24\") | stats count(*) as n by srcaddr",
    "sql": "SELECT \"g1\" AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT \"srcaddr\" AS \"g1\", count(*) AS \"a1\" FROM flows WHERE (CASE WHEN concat(ifNull(\"srcaddr\", '')) IS NULL THEN NULL ELSE coalesce((if(match(concat(ifNull(\"srcaddr\", '')), '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$'), toUInt32(toIPv4OrNull(concat(ifNull(\"srcaddr\", '')))), NULL) BETWEEN 3221225984 AND 3221226239), FALSE) END) GROUP BY \"srcaddr\") AS q1 LIMIT 10000",
    "params": []
  },
  {
    "query": "filter srcAddr like \"192.0\" or dstAddr =~ /(?i)^FE80:/ | stats count(*) as n by action",
    "sql": "SELECT \"g1\" AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT \"action\" AS \"g1\", count(*) AS \"a1\" FROM flows WHERE ((position(\"srcaddr\", {p1:String}) > 0) OR match(\"dstaddr\", {p2:String})) GROUP BY \"action\") AS q1 LIMIT 10000",
    "params": [
      "192.0",
      "(?i)^FE80:"
    ]
  },
  {
    "query": "filter dstPort not in [22, 443] and protocol in [6, 17] and logStatus != \"NODATA\" | stats count(*) as n by dstPort",
    "sql": "SELECT \"g1\" AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT \"dstport\" AS \"g1\", count(*) AS \"a1\" FROM flows WHERE (((NOT (\"dstport\" IN (22, 443))) AND (\"protocol\" IN (6, 17))) AND (\"log_status\" <> {p1:String})) GROUP BY \"dstport\") AS q1 LIMIT 10000",
    "params": [
      "NODATA"
    ]
  },
  {
    "query": "filter packets > 0 and srcport > 60000 | fields bytes / packets as avgSize, bytes % 7 as m, 2 ^ 10 as p, -packets as neg | sort avgSize desc | limit 3",
    "sql": "SELECT (toFloat64(\"bytes\") / nullIf(toFloat64(\"packets\"), 0)) AS \"c1\", (\"bytes\" % 7) AS \"c2\", pow(toFloat64(2), toFloat64(10)) AS \"c3\", (-toFloat64(\"packets\")) AS \"c4\" FROM flows WHERE ((\"packets\" > 0) AND (\"srcport\" > 60000)) ORDER BY (toFloat64(\"bytes\") / nullIf(toFloat64(\"packets\"), 0)) DESC NULLS LAST LIMIT 3",
    "params": []
  },
  {
    "query": "fields toupper(action) as a, strlen(interfaceId) as l, substr(interfaceId, 4, 4) as s, concat(action, \"-\", logStatus) as c, replace(interfaceId, \"eni-\", \"\") as r, strcontains(interfaceId, \"1111\") as has | sort @timestamp asc | limit 3",
    "sql": "SELECT upperUTF8(\"action\") AS \"c1\", lengthUTF8(\"interface_id\") AS \"c2\", substringUTF8(\"interface_id\", toInt64(least(greatest(floor(toFloat64(4)), 0), 1000000000)) + 1, toInt64(least(greatest(floor(toFloat64(4)), 0), 1000000000))) AS \"c3\", concat(ifNull(\"action\", ''), ifNull({p1:String}, ''), ifNull(\"log_status\", '')) AS \"c4\", replaceAll(\"interface_id\", {p2:String}, {p3:String}) AS \"c5\", toUInt8((position(\"interface_id\", {p4:String}) > 0)) AS \"c6\" FROM flows ORDER BY (\"start\" * 1000.0) ASC NULLS LAST LIMIT 3",
    "params": [
      "-",
      "eni-",
      "",
      "1111"
    ]
  },
  {
    "query": "filter ispresent(action) | stats count_distinct(srcAddr) as srcs, pct(bytes, 50) as median, stddev(bytes) as sd, earliest(srcPort) as first, latest(srcPort) as last, sortsFirst(dstAddr) as lo, sortsLast(dstAddr) as hi by action",
    "sql": "SELECT \"g1\" AS \"c1\", \"a1\" AS \"c2\", \"a2\" AS \"c3\", \"a3\" AS \"c4\", \"a4\" AS \"c5\", \"a5\" AS \"c6\", \"a6\" AS \"c7\", \"a7\" AS \"c8\" FROM (SELECT \"action\" AS \"g1\", uniqExact(\"srcaddr\") AS \"a1\", quantileExact(0.5)(\"bytes\") AS \"a2\", stddevSamp(\"bytes\") AS \"a3\", argMin(\"srcport\", (\"start\" * 1000.0)) AS \"a4\", argMax(\"srcport\", (\"start\" * 1000.0)) AS \"a5\", min(\"dstaddr\") AS \"a6\", max(\"dstaddr\") AS \"a7\" FROM flows WHERE (\"action\" IS NOT NULL) GROUP BY \"action\") AS q1 LIMIT 10000",
    "params": []
  },
  {
    "query": "stats count(*) as n by datefloor(@timestamp, 1d) as day",
    "sql": "SELECT if(abs(\"g1\") < 1e14, toString(fromUnixTimestamp64Milli(toInt64(floor(\"g1\")), 'UTC')), NULL) AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT (floor((\"start\" * 1000.0) / 86400000) * 86400000) AS \"g1\", count(*) AS \"a1\" FROM flows GROUP BY (floor((\"start\" * 1000.0) / 86400000) * 86400000)) AS q1 ORDER BY \"g1\" ASC NULLS LAST LIMIT 10000",
    "params": []
  },
  {
    "query": "filter ispresent(srcAddr) | sort bytes desc | dedup srcAddr | fields srcAddr, bytes",
    "sql": "SELECT \"srcaddr\" AS \"c1\", \"bytes\" AS \"c2\" FROM (SELECT *, row_number() OVER (PARTITION BY \"srcaddr\" ORDER BY \"bytes\" DESC NULLS LAST) AS \"__rn\" FROM flows WHERE (\"srcaddr\" IS NOT NULL)) AS q1 WHERE (\"__rn\" = 1 OR \"srcaddr\" IS NULL) ORDER BY \"bytes\" DESC NULLS LAST LIMIT 10000",
    "params": []
  },
  {
    "query": "filter isIpv6InSubnet(srcAddr, \"2001:db8::/32\") | stats count(*) as n by bin(1mo)",
    "sql": "SELECT if(abs(\"g1\") < 1e14, toString(fromUnixTimestamp64Milli(toInt64(floor(\"g1\")), 'UTC')), NULL) AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT if(abs((\"start\" * 1000.0)) < 1e14, toFloat64(toUnixTimestamp(toDateTime(toStartOfMonth(fromUnixTimestamp64Milli(toInt64(floor((\"start\" * 1000.0))), 'UTC')), 'UTC'))) * 1000, NULL) AS \"g1\", count(*) AS \"a1\" FROM flows WHERE (CASE WHEN \"srcaddr\" IS NULL THEN NULL ELSE coalesce(if(isIPv6String(\"srcaddr\"), hex(toIPv6OrNull(\"srcaddr\")), NULL) BETWEEN '20010DB8000000000000000000000000' AND '20010DB8FFFFFFFFFFFFFFFFFFFFFFFF', FALSE) END) GROUP BY if(abs((\"start\" * 1000.0)) < 1e14, toFloat64(toUnixTimestamp(toDateTime(toStartOfMonth(fromUnixTimestamp64Milli(toInt64(floor((\"start\" * 1000.0))), 'UTC')), 'UTC'))) * 1000, NULL)) AS q1 ORDER BY \"g1\" ASC NULLS LAST LIMIT 10000",
    "params": []
  },
  {
    "query": "fields @timestamp, @message | filter isValidIp(srcAddr) and not isblank(vpc_id) | sort @timestamp desc | limit 2",
    "sql": "SELECT if(abs((\"start\" * 1000.0)) < 1e14, toString(fromUnixTimestamp64Milli(toInt64(floor((\"start\" * 1000.0))), 'UTC')), NULL) AS \"c1\", concat(coalesce(toString(\"version\"), '-'), ' ', coalesce(\"account_id\", '-'), ' ', coalesce(\"interface_id\", '-'), ' ', coalesce(\"srcaddr\", '-'), ' ', coalesce(\"dstaddr\", '-'), ' ', coalesce(toString(\"srcport\"), '-'), ' ', coalesce(toString(\"dstport\"), '-'), ' ', coalesce(toString(\"protocol\"), '-'), ' ', coalesce(toString(\"packets\"), '-'), ' ', coalesce(toString(\"bytes\"), '-'), ' ', coalesce(toString(\"start\"), '-'), ' ', coalesce(toString(\"end\"), '-'), ' ', coalesce(\"action\", '-'), ' ', coalesce(\"log_status\", '-')) AS \"c2\" FROM flows WHERE (((if(match(\"srcaddr\", '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$'), toUInt32(toIPv4OrNull(\"srcaddr\")), NULL) IS NOT NULL) OR (if(isIPv6String(\"srcaddr\"), hex(toIPv6OrNull(\"srcaddr\")), NULL) IS NOT NULL)) AND (NOT (\"vpc_id\" IS NULL OR match(\"vpc_id\", '^(?:\\\\s*)$')))) ORDER BY (\"start\" * 1000.0) DESC NULLS LAST LIMIT 2",
    "params": []
  },
  {
    "query": "parse interfaceId \"eni-*\" as suffix | display suffix",
    "sql": "SELECT \"__p1_1\" AS \"c1\" FROM (SELECT *, (CASE WHEN match(\"interface_id\", {p1:String}) THEN extractGroups(\"interface_id\", {p1:String})[1] END) AS \"__p1_1\" FROM flows) AS q1 ORDER BY \"start\" DESC NULLS LAST LIMIT 10000",
    "params": [
      "(?s)eni-(.*)"
    ]
  }
];

describe('ClickHouse compiler', () => {
  it.each(CASES.map((c) => [c.query, c] as const))('%s', (_q, c) => {
    const compiled = compileInsights(c.query, { dialect: 'clickhouse' });
    expect(compiled.sql).toBe(c.sql);
    expect(compiled.params).toEqual(c.params);
  });

  it('prunes by time on start and the date partition', () => {
    const c = compileInsights('filter action = "REJECT" | stats count(*) as n by srcAddr', { dialect: 'clickhouse', from: 1700050000, to: 1700120000 });
    expect(c.sql).toBe("SELECT \"g1\" AS \"c1\", \"a1\" AS \"c2\" FROM (SELECT \"srcaddr\" AS \"g1\", count(*) AS \"a1\" FROM flows WHERE \"start\" >= 1700050000 AND \"start\" <= 1700120000 AND \"date\" >= toDate('2023-11-15') AND \"date\" <= toDate('2023-11-16') AND (\"action\" = {p1:String}) GROUP BY \"srcaddr\") AS q1 LIMIT 10000");
  });

  it('quotes odd enrichment column names with back-quotes', () => {
    const c = compileInsights('stats count(*) by `src owner`', { dialect: 'clickhouse', columns: [{ name: 'src owner', type: 'VARCHAR' }] });
    expect(c.sql).toContain('`src owner`');
  });
});

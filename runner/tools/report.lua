-- wrk script: at the end, print wrk's own counts and latency percentiles as
-- one JSON line prefixed with LAB_JSON, so the runner parses numbers rather
-- than wrk's human-readable (rounded, unit-suffixed) text. Times are in µs.
done = function(summary, latency, requests)
  local e = summary.errors
  local parts = {}
  for _, q in ipairs({50, 75, 90, 99, 99.9}) do
    parts[#parts + 1] = string.format('"p%s":%d', tostring(q), latency:percentile(q))
  end
  io.write(string.format(
    'LAB_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"max":%d,"mean":%.3f,"stdev":%.3f,%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev, table.concat(parts, ",")))
end

-- wrk script: at the end, print wrk's counts and its whole latency histogram
-- (every distinct latency in µs with its count) as one JSON line prefixed
-- with LAB_JSON, so the runner computes figures from numbers rather than
-- wrk's human-readable (rounded, unit-suffixed) text.
--
-- wrk hands done() a histogram it has already "corrected" for coordinated
-- omission (stats_correct in its src/stats.c adds synthetic samples); the
-- runner undoes that exactly (runner/tools/wrk.py: uncorrect) and checks
-- that what is left counts one sample per completed request.
done = function(summary, latency, requests)
  local e = summary.errors
  local pairs_ = {}
  for i = 1, #latency do
    local value, count = latency(i)
    pairs_[#pairs_ + 1] = string.format('[%d,%d]', value, count)
  end
  io.write(string.format(
    'LAB_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"histogram_us":[%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(pairs_, ",")))
end

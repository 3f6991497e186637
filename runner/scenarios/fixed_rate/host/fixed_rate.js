// Open-loop load at a fixed request rate (k6 constant-arrival-rate), with
// latency measured from each request's INTENDED send time, so that queueing
// is not hidden (coordinated omission). Run by runner/scenarios/fixed_rate/k6.py; see LATENCY_MODEL
// there. Configuration comes from environment variables (all required except
// the last two):
//   LAB_K6_URL         the URL to GET
//   LAB_K6_RATE        requests per second, an integer >= 1
//   LAB_K6_DURATION_S  seconds of load, an integer >= 1
//   LAB_K6_PRE_VUS     VUs (each one keep-alive connection) made before the start
//   LAB_K6_MAX_VUS     the most VUs k6 may add when all are busy
//   LAB_K6_TIMEOUT_S   per-request timeout (default 5)
//
// The schedule: k6 starts iteration i of the scenario at startTime + i * P,
// P = floor(1e9 / rate) ns (lib/executor/constant_arrival_rate.go). Inside an
// iteration, exec.scenario.progress is (now - that same startTime) / duration,
// read live from Go's monotonic clock with sub-microsecond resolution (Date.now()
// is whole milliseconds, and k6 1.1 has no performance.now()). So:
//   schedule lag       = progress * duration - n * P   (n = iterationInTest)
//   intended latency   = schedule lag + (time from the iteration's start to
//                        http.get returning), the latter from
//                        exec.instance.currentTestRunDuration (float ms, monotonic)
// n counts iterations that STARTED: when k6 drops an iteration (no free VU),
// later iterations are compared with earlier slots of the schedule, as a
// client that queued instead of dropping would be (wrk2's model); drops are
// also counted (dropped_iterations).
import http from 'k6/http';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';

function intEnv(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`${name} is required`);
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be an integer >= 1, got ${raw}`);
  }
  return value;
}

const URL = __ENV.LAB_K6_URL;
if (!URL) throw new Error('LAB_K6_URL is required');
const RATE = intEnv('LAB_K6_RATE');
const DURATION_S = intEnv('LAB_K6_DURATION_S');
const PRE_VUS = intEnv('LAB_K6_PRE_VUS');
const MAX_VUS = Math.max(PRE_VUS, intEnv('LAB_K6_MAX_VUS', PRE_VUS));
const TIMEOUT_S = intEnv('LAB_K6_TIMEOUT_S', 5);
const DURATION_MS = DURATION_S * 1000;
// k6's ticker period in whole nanoseconds, as a float of milliseconds.
const PERIOD_MS = Math.floor(1e9 / RATE) / 1e6;
const STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)', 'p(99.9)', 'count'];

export const options = {
  discardResponseBodies: true,  // status only: the runner verified the body before the window
  summaryTrendStats: STATS,
  scenarios: {
    fixed_rate: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: `${DURATION_S}s`,
      preAllocatedVUs: PRE_VUS,
      maxVUs: MAX_VUS,
      // Requests in flight at the end may finish (within their timeout).
      gracefulStop: `${TIMEOUT_S + 2}s`,
    },
  },
};

const intended = new Trend('lab_latency_intended', true);
const lag = new Trend('lab_schedule_lag', true);
const non2xx = new Counter('lab_non_2xx');
const socketErrors = new Counter('lab_socket_errors');
// Iterations started after the scenario's duration had passed (the last
// tick): progress is capped at 1 there, so their start comes from Date.now().
const lateStarts = new Counter('lab_late_starts');

const PARAMS = { timeout: `${TIMEOUT_S}s` };
// exec.instance's properties are live getters: one object per VU is enough
// (each exec.* access builds a new object, which costs k6 CPU at high rates).
let instance = null;

export default function () {
  const scenario = exec.scenario;
  const progress = scenario.progress;
  if (instance === null) instance = exec.instance;
  const t0 = instance.currentTestRunDuration;
  const slot = scenario.iterationInTest * PERIOD_MS;
  let started = progress * DURATION_MS;
  if (progress >= 1) {
    started = Date.now() - scenario.startTime;
    lateStarts.add(1);
  }
  const res = http.get(URL, PARAMS);
  const t1 = instance.currentTestRunDuration;
  lag.add(started - slot);
  intended.add(started - slot + (t1 - t0));
  if (res.status === 0) socketErrors.add(1);
  else if (res.status < 200 || res.status > 299) non2xx.add(1);
}

function trend(data, name) {
  const m = data.metrics[name];
  if (!m) return null;
  const v = m.values;
  return { count: v.count, mean: v.avg, min: v.min, p50: v.med, p90: v['p(90)'],
           p99: v['p(99)'], 'p99.9': v['p(99.9)'], max: v.max };
}

function count(data, name) {
  const m = data.metrics[name];
  return m ? m.values.count : 0;
}

export function handleSummary(data) {
  const vusMax = data.metrics.vus_max;
  const out = {
    schema: 1,
    config: { url: URL, rate: RATE, duration_s: DURATION_S, pre_vus: PRE_VUS,
              max_vus: MAX_VUS, timeout_s: TIMEOUT_S, period_ms: PERIOD_MS },
    test_run_duration_ms: data.state.testRunDurationMs,
    requests: count(data, 'http_reqs'),
    iterations: count(data, 'iterations'),
    dropped_iterations: count(data, 'dropped_iterations'),
    non_2xx: count(data, 'lab_non_2xx'),
    socket_errors: count(data, 'lab_socket_errors'),
    late_starts: count(data, 'lab_late_starts'),
    vus_max: vusMax ? vusMax.values.max : null,
    latency_intended_ms: trend(data, 'lab_latency_intended'),
    latency_send_ms: trend(data, 'http_req_duration'),
    schedule_lag_ms: trend(data, 'lab_schedule_lag'),
    blocked_ms: trend(data, 'http_req_blocked'),
    connecting_ms: trend(data, 'http_req_connecting'),
  };
  return { stdout: `LAB_K6_JSON ${JSON.stringify(out)}\n` };
}

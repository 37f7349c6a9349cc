// SPDX-License-Identifier: BSD-2-Clause
// Numbers, times and the "can A reach B" sentence, as the page words them.

const count = new Intl.NumberFormat('en-US');

export function fmtCount(n) {
	return n == null ? '—' : count.format(n);
}

/* IEC units: what `ls -h` and Grafana's "bytes(IEC)" show */
export function fmtBytes(n) {
	if (n == null) return '—';
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
	let i = 0;
	let v = n;
	while (v >= 1024 && i < units.length - 1) {
		v /= 1024;
		i++;
	}
	return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/* An RTT bucket's upper bound in µs (null: the +Inf bucket, or no sample) */
export function fmtRtt(us) {
	if (us == null) return '—';
	if (us < 1000) return `${us} µs`;
	if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 1 : 0)} ms`;
	return `${(us / 1e6).toFixed(2)} s`;
}

export function fmtPct(ratio) {
	if (ratio == null || Number.isNaN(ratio)) return '—';
	const p = ratio * 100;
	if (p === 0 || p === 100) return `${p}%`;
	if (p < 0.1) return '<0.1%';
	if (p > 99.9) return '>99.9%';
	return `${p.toFixed(p < 10 ? 1 : 0)}%`;
}

/* Wall-clock time of day, 24 h, in the browser's time zone */
export function fmtTime(ms) {
	if (ms == null) return '—';
	return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

/* HH:MM */
export function fmtClock(ms) {
	if (ms == null) return '—';
	return new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false });
}

/* a bucket's width: "1 min", "10 s" */
export function fmtResolution(ms) {
	if (!ms) return '—';
	if (ms % 3600000 === 0) return `${ms / 3600000} h`;
	if (ms % 60000 === 0) return `${ms / 60000} min`;
	return `${ms / 1000} s`;
}

export function fmtDuration(ms) {
	const s = Math.max(0, Math.round(ms / 1000));
	if (s < 60) return `${s} s`;
	const m = Math.round(s / 60);
	if (m < 60) return `${m} min`;
	const h = Math.floor(m / 60);
	return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

export const ERROR_WORDS = {
	refused: 'connection refused',
	timeout: 'timed out',
	reset: 'connection reset',
	other: 'other errors',
};

/* "connection refused ×34, timed out ×2": the classes with a count, largest first */
export function fmtFailures(failures) {
	return Object.entries(failures || {})
		.filter(([, n]) => n > 0)
		.sort((a, b) => b[1] - a[1])
		.map(([k, n]) => `${ERROR_WORDS[k] || k} ×${fmtCount(n)}`)
		.join(', ');
}

/* The failure classes summed over the buckets from `since` on (the failing run) */
function failuresSince(path, since) {
	const sum = { refused: 0, timeout: 0, reset: 0, other: 0 };
	let any = false;
	for (const b of path.series || []) {
		if (since != null && b.t < since) continue;
		for (const k of Object.keys(sum)) {
			sum[k] += b[k] || 0;
			any = any || b[k] > 0;
		}
	}
	return any ? sum : path.failures;
}

/*
 * The answer to "can A reach B" (docs/api.md, /api/v1/path) in one sentence:
 * {verdict: 'yes'|'no'|'partly'|'unknown', text}.  `now` is the wall clock in
 * ms, for "since 10:32:00 (12 min)".
 */
export function reachSentence(p, now = Date.now()) {
	const a = p.from;
	const b = p.to;
	const rtt = p.rtt_us && p.rtt_us.p50 != null ? `, RTT p50 ≤ ${fmtRtt(p.rtt_us.p50)}` : '';
	const conns = `${fmtCount(p.flows)} connection${p.flows === 1 ? '' : 's'} in the window`;
	switch (p.status) {
		case 'ok':
			return {
				verdict: 'yes',
				text: `Yes — ${a} reaches ${b}: ${conns}, ${fmtPct(p.success_ratio)} established${rtt}.`,
			};
		case 'failing': {
			const since = p.failing_since_ms;
			const when =
				since != null
					? `every connect has failed since ${fmtTime(since)} (${fmtDuration(now - since)})`
					: 'every recent connect has failed';
			const why = fmtFailures(failuresSince(p, since));
			const last =
				p.last_success_ms != null ? ` Last established connection: ${fmtTime(p.last_success_ms)}.` : '';
			return { verdict: 'no', text: `No — ${a} cannot reach ${b}: ${when}${why ? `, ${why}` : ''}.${last}` };
		}
		case 'degraded': {
			const why = fmtFailures(p.failures);
			return {
				verdict: 'partly',
				text:
					`Partly — ${a} reaches ${b}, but ${fmtCount(p.failed)} of ${conns} failed ` +
					`(${fmtPct(p.flows ? p.failed / p.flows : 0)})${why ? `: ${why}` : ''}${rtt}.`,
			};
		}
		case 'never_seen':
			return { verdict: 'unknown', text: `No record of ${a} connecting to ${b} in the window.` };
		default:
			return { verdict: 'unknown', text: `${a} → ${b}: unknown status "${p.status}".` };
	}
}

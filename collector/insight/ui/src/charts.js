// SPDX-License-Identifier: BSD-2-Clause
// Small uPlot time-series charts of a path's buckets (docs/api.md, /api/v1/path "series").

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmtBytes, fmtClock, fmtCount, fmtRtt, fmtTime } from './format.js';



export const SERIES_COLORS = {
	flows: 'rgb(70, 110, 170)',
	failed: 'rgb(214, 48, 39)',
	sent: 'rgb(70, 110, 170)',
	received: 'rgb(46, 160, 120)',
	retransmits: 'rgb(240, 140, 30)',
	rtt: 'rgb(120, 80, 170)',
};

const AXIS = {
	stroke: '#5b6472',
	grid: { stroke: 'rgba(0, 0, 0, 0.06)', width: 1 },
	ticks: { stroke: 'rgba(0, 0, 0, 0.12)', width: 1, size: 4 },
	font: '11px system-ui, sans-serif',
};

/*
 * One chart in `parent`: series = [{label, key (of a bucket), color, fmt}];
 * the buckets' times are ms, uPlot's seconds.  Returns the uPlot (destroy() it).
 */
export function seriesChart(parent, { title, buckets, series, fmt = fmtCount, testid }) {
	const box = document.createElement('div');
	box.className = 'chart';
	if (testid) box.dataset.testid = testid;
	parent.appendChild(box);
	const data = [buckets.map((b) => b.t / 1000), ...series.map((s) => buckets.map((b) => b[s.key] ?? null))];
	const width = Math.max(200, Math.floor(parent.clientWidth || 320));
	const opts = {
		title,
		width,
		height: 120,
		cursor: { drag: { x: false, y: false }, points: { size: 5 } },
		legend: { live: true },
		scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
		axes: [
			{ ...AXIS, space: 60, values: (u, ticks) => ticks.map((t) => fmtClock(t * 1000)) },
			{ ...AXIS, size: 54, values: (u, ticks) => ticks.map((v) => fmt(v)) },
		],
		series: [
			{ value: (u, t) => (t == null ? '—' : fmtTime(t * 1000)) },
			...series.map((s) => ({
				label: s.label,
				stroke: s.color,
				fill: s.fill ? s.color.replace('rgb(', 'rgba(').replace(')', ', 0.12)') : undefined,
				width: 1.5,
				spanGaps: false,
				points: { show: false },
				value: (u, v) => (v == null ? '—' : fmt(v)),
			})),
		],
	};
	return new uPlot(opts, data, box);
}

/* The four charts of an edge's panel: connections, bytes, retransmits, RTT p50 */
export function pathCharts(parent, buckets) {
	return [
		seriesChart(parent, {
			title: 'Connections',
			buckets,
			testid: 'chart-flows',
			series: [
				{ label: 'flows', key: 'flows', color: SERIES_COLORS.flows, fill: true },
				{ label: 'failed', key: 'failed', color: SERIES_COLORS.failed, fill: true },
			],
		}),
		seriesChart(parent, {
			title: 'Bytes',
			buckets,
			testid: 'chart-bytes',
			fmt: fmtBytes,
			series: [
				{ label: 'sent', key: 'bytes_sent', color: SERIES_COLORS.sent },
				{ label: 'received', key: 'bytes_received', color: SERIES_COLORS.received },
			],
		}),
		seriesChart(parent, {
			title: 'Retransmits',
			buckets,
			testid: 'chart-retransmits',
			series: [
				{ label: 'retransmits', key: 'retransmits', color: SERIES_COLORS.retransmits, fill: true },
				{ label: 'resets', key: 'resets', color: SERIES_COLORS.failed },
			],
		}),
		seriesChart(parent, {
			title: 'RTT p50',
			buckets,
			testid: 'chart-rtt',
			fmt: fmtRtt,
			series: [{ label: 'p50 ≤', key: 'rtt_p50_us', color: SERIES_COLORS.rtt }],
		}),
	];
}

/* The "can A reach B" chart: connects and failed connects over the window */
export function failuresChart(parent, buckets) {
	return seriesChart(parent, {
		title: 'Connects over the window',
		buckets,
		testid: 'chart-reach',
		series: [
			{ label: 'connects', key: 'flows', color: SERIES_COLORS.flows, fill: true },
			{ label: 'failed', key: 'failed', color: SERIES_COLORS.failed, fill: true },
		],
	});
}

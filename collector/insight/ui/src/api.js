// SPDX-License-Identifier: BSD-2-Clause
// The insight API (docs/api.md), relative to the page: the collector serves both.

export class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

/* GET api/v1/<path>?<params>: the parsed JSON, or an ApiError saying why not */
export async function api(path, params = {}) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, String(v));
	const url = `api/v1/${path}${q.toString() ? `?${q}` : ''}`;
	let resp;
	try {
		resp = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
	} catch (e) {
		throw new ApiError(0, `cannot reach the collector (${e.message})`);
	}
	if (resp.status === 401)
		throw new ApiError(401, 'the API listener wants a bearer token: reach it on loopback (kubectl port-forward)');
	let body;
	try {
		body = await resp.json();
	} catch {
		throw new ApiError(resp.status, `${url}: HTTP ${resp.status}, not JSON`);
	}
	if (!resp.ok) throw new ApiError(resp.status, typeof body === 'string' ? body : `${url}: HTTP ${resp.status}`);
	return body;
}

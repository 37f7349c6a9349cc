/* SPDX-License-Identifier: BSD-2-Clause */
/* The web UI (docs/ui.md) as admin assets: the built page, script and styles, embedded in the binary. */
#ifndef PODFLOW_COLLECTOR_UI_ASSETS_H
#define PODFLOW_COLLECTOR_UI_ASSETS_H

#include <stddef.h>

#include "admin.h"

/*
 * GET / and /index.html (the page), /app.js, /app.css: for the API
 * listener's admin_callbacks.assets.  The bytes are the files esbuild wrote
 * to build/ui when the binary was built (ui_assets.S).
 */
extern const struct admin_asset insight_ui_assets[];
extern const size_t insight_ui_n_assets;

#endif /* PODFLOW_COLLECTOR_UI_ASSETS_H */

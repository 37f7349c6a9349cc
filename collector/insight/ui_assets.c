// SPDX-License-Identifier: BSD-2-Clause
/* What ui_assets.S, which holds the web UI's table of assets, takes struct admin_asset to be. */
#include "ui_assets.h"

#include <stddef.h>

/* ui_assets.S writes each entry as four 64-bit words, in this order */
_Static_assert(sizeof(void *) == 8 && sizeof(size_t) == 8,
	       "ui_assets.S writes pointers and sizes as 64-bit words");
_Static_assert(offsetof(struct admin_asset, path) == 0 &&
		   offsetof(struct admin_asset, content_type) == 8 &&
		   offsetof(struct admin_asset, data) == 16 &&
		   offsetof(struct admin_asset, len) == 24 && sizeof(struct admin_asset) == 32,
	       "struct admin_asset changed: change the ENTRY macro of ui_assets.S with it");

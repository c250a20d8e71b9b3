/*
 * assets: the UI's templates (ui/templates/NAME.mustache, by NAME without the
 * extension) and static files (ui/static/NAME, by file name), compiled into
 * the binary by tools/embed-dir.sh. Static data; thread-safe.
 */
#ifndef UI_ASSETS_H
#define UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
    const char *name;
    const char *data; /* NUL-terminated */
    size_t len;
};

extern const struct ui_asset ui_templates[];
extern const size_t ui_templates_count;
extern const struct ui_asset ui_statics[];
extern const size_t ui_statics_count;

/* The asset called 'name' in 'table', or NULL. */
const struct ui_asset *ui_asset_find(const struct ui_asset *table, size_t n, const char *name);

#endif

/*
 * ui_chat: the views of one trace (span tree, waterfall, each span's
 * details and its messages as a chat) and of one session (its calls as one
 * conversation, each message shown once). Part of the ui module; fills the
 * request's view for the "trace" and "session" templates.
 */
#ifndef UI_UI_CHAT_H
#define UI_UI_CHAT_H

#include <sqlite3.h>

#include "ui/ui_int.h"

/* Fill r->view for trace 'trace_id'; *found = 0 when it has no span.
 * Returns 0, or -1 with r->err set when the store fails. */
int ui_chat_trace(struct ui_req *r, sqlite3 *db, const char *trace_id, int *found);

/* Fill r->view for session 'session'; *found as above. */
int ui_chat_session(struct ui_req *r, sqlite3 *db, const char *session, int *found);

/* Messages (a stored input: an array of messages or a plain string) as
 * chat view objects appended to 'list'; 'seen' (may be NULL) is a cJSON
 * object of canonical messages already shown: those are skipped and the
 * new ones added to it. Returns how many were appended. */
int ui_chat_messages(cJSON *list, const char *json, cJSON *seen);

/* An output (a message object or a string) as one chat view object, or
 * NULL when there is none. */
cJSON *ui_chat_output(const char *json);

#endif

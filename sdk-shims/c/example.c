/*
 * example: an "agent" span with one LLM call inside it, sent to the llmtap
 * server at $LLMTAP_ENDPOINT (default http://127.0.0.1:4318).
 *   cc example.c llmtap.c -lcurl -pthread -lm -o example && ./example
 * Prints the trace id and the counts; exits 0 when every span was stored.
 */
#include <stdio.h>

#include "llmtap.h"

int main(void)
{
    struct llmtap_config cfg;
    llmtap_config_init(&cfg);
    cfg.at_exit = 1; /* a forgotten llmtap_shutdown still flushes */
    struct llmtap *t = llmtap_open(&cfg);

    struct llmtap_span *agent = llmtap_span_begin(t, "answer question", NULL);
    llmtap_span_set(agent, LLMTAP_KIND, "agent");
    llmtap_span_set(agent, LLMTAP_USER, "u_42");
    llmtap_span_set(agent, LLMTAP_SESSION, "sess_example");

    struct llmtap_span *call = llmtap_span_begin(t, "chat gpt-4o-mini", agent);
    llmtap_span_set(call, LLMTAP_PROVIDER, "openai");
    llmtap_span_set(call, LLMTAP_MODEL, "gpt-4o-mini");
    llmtap_span_set_input_json(call, "[{\"role\":\"user\",\"content\":\"Say hi\"}]");
    llmtap_span_set_output_text(call, "Hi!");
    llmtap_span_set_usage(call, 9, 2, -1, -1, -1);
    llmtap_span_set_prompt(call, "greeting", 3, "{\"lang\":\"en\"}");
    llmtap_span_add_tag(call, "example");
    llmtap_span_end(call);
    printf("trace %s\n", llmtap_span_trace_id(agent));
    llmtap_span_end(agent);

    llmtap_flush(t, 5000);
    struct llmtap_stats st;
    llmtap_stats(t, &st);
    printf("sent %llu, dropped %llu, failed %llu\n", (unsigned long long)st.sent,
           (unsigned long long)st.dropped, (unsigned long long)st.failed);
    int enabled = llmtap_enabled(t);
    llmtap_shutdown(t, -1);
    return !enabled || st.sent == 2 ? 0 : 1;
}

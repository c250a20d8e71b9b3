#!/bin/sh
# make run: the fake LLM upstream on 127.0.0.1:4319 in the background, then
# `llmtap serve --demo` on 127.0.0.1:4318 with both proxy routes pointed at
# it; the upstream stops when the server does. Extra arguments go to serve.
BUILD=${BUILD:-build}
FAKE_LISTEN=${FAKE_LISTEN:-127.0.0.1:4319}
"$BUILD/llmtap-fakeup" --listen "$FAKE_LISTEN" &
fake=$!
trap 'kill $fake 2>/dev/null' EXIT INT TERM
echo "fake upstream on http://$FAKE_LISTEN (OpenAI and Anthropic wire protocols)"
"$BUILD/llmtap" serve --demo --upstream "openai=http://$FAKE_LISTEN" \
    --upstream "anthropic=http://$FAKE_LISTEN" "$@"

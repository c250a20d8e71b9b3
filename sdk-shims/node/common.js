// common.js: helpers the provider mappings share.

// The members of 'body' named in 'keys' that are set, or undefined.
export function pick(body, keys) {
  let out;
  for (const k of keys) {
    if (body[k] !== undefined && body[k] !== null) (out ??= {})[k] = body[k];
  }
  return out;
}

// A stream's end: 'abandoned' when the app stopped iterating early. A
// stream the app aborted, or left, is `cancelled` with what was seen; one
// that ended without its last event is an error.
export function endStream(rec, stream, abandoned) {
  const aborted = !!stream?.controller?.signal?.aborted;
  if (abandoned || aborted) rec.finish("cancelled");
  else if (rec.spec.complete(rec.events, rec)) rec.finish("ok");
  else rec.finish("error", { code: "stream_incomplete", message: "the stream ended before its last event" });
}

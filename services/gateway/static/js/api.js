// The gateway's HTTP API as the page uses it: JSON calls, the SSE chat stream, the API key.
// Every failure becomes an ApiError whose message is readable by a person.

const KEY_STORAGE = "ragtune.apiKey";
let memoryKey = ""; // used when localStorage is unavailable

/** A failed call: HTTP status (0 = network), the gateway's error type and a readable message. */
export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
  }
}

/** The stored API key, or "" when none was given. */
export function getApiKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

/** Store (or, with "", forget) the API key sent as `Authorization: Bearer KEY`. */
export function setApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* private mode: the key lives for this page only */
  }
  memoryKey = key;
}

const unauthorizedListeners = new Set();

/** Call `listener(error)` whenever the gateway answers 401 (a key is missing or wrong). */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

function authHeaders() {
  const key = getApiKey() || memoryKey;
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** Turn a gateway error body (`{"error": {"type", "message"}}` or FastAPI's `{"detail"}`) into text. */
function describeErrorBody(body, status) {
  if (body && typeof body === "object") {
    const err = body.error;
    if (err && typeof err === "object" && err.message) return [err.type || "error", err.message];
    if (typeof err === "string") return ["error", err];
    if (Array.isArray(body.detail)) {
      const parts = body.detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`);
      return ["invalid_request", parts.join("; ")];
    }
    if (typeof body.detail === "string") return ["error", body.detail];
  }
  return ["http_error", `The gateway answered ${status}.`];
}

async function errorFromResponse(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON */
  }
  const [type, message] = describeErrorBody(body, response.status);
  const error = new ApiError(response.status, type, message);
  if (response.status === 401) unauthorizedListeners.forEach((fn) => fn(error));
  return error;
}

async function send(path, init = {}) {
  let response;
  try {
    response = await fetch(path, {
      ...init,
      headers: { Accept: "application/json", ...authHeaders(), ...(init.headers || {}) },
    });
  } catch (cause) {
    if (cause && cause.name === "AbortError") throw cause;
    throw new ApiError(0, "network", "Cannot reach the gateway. Is `ragtune serve` still running?");
  }
  if (!response.ok) throw await errorFromResponse(response);
  return response;
}

/** GET a JSON resource. */
export async function getJson(path) {
  const response = await send(path);
  return response.json();
}

/** POST a JSON body, return the JSON answer. */
export async function postJson(path, body, { signal } = {}) {
  const response = await send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  return response.status === 204 ? null : response.json();
}

/** POST a multipart form (document upload). */
export async function postForm(path, formData) {
  const response = await send(path, { method: "POST", body: formData });
  return response.status === 204 ? null : response.json();
}

/** DELETE a resource. */
export async function deleteResource(path) {
  const response = await send(path, { method: "DELETE" });
  return response.status === 204 ? null : response.json().catch(() => null);
}

/**
 * POST /v1/chat with `stream: true` and read its server-sent events.
 * Calls `onDelta(text)` for each piece of the answer; resolves with the final response object
 * (id, mode, adapter, answer, citations, usage, latency_ms, cost).
 */
export async function streamChat(body, { onDelta, signal } = {}) {
  const response = await send("/v1/chat", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  const contentType = response.headers.get("content-type") || "";
  if (!contentType.includes("text/event-stream")) return response.json(); // gateway chose not to stream

  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let final = null;
  const handleEvent = (rawEvent) => {
    const data = rawEvent
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n");
    if (!data || data === "[DONE]") return;
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (event.error) {
      const [type, message] = describeErrorBody(event, response.status);
      throw new ApiError(response.status, type, message);
    }
    if (typeof event.delta === "string") {
      if (onDelta) onDelta(event.delta);
    } else if ("answer" in event || "id" in event) {
      final = event;
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, "\n");
    let boundary;
    while ((boundary = buffer.indexOf("\n\n")) >= 0) {
      handleEvent(buffer.slice(0, boundary));
      buffer = buffer.slice(boundary + 2);
    }
  }
  if (buffer.trim()) handleEvent(buffer);
  if (!final) throw new ApiError(502, "stream", "The answer stream ended before the final result arrived.");
  return final;
}

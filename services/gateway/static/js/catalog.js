// The models the gateway serves (GET /v1/models): the base model and the adapters with their cards.
// Views subscribe to refresh their adapter pickers when the list changes.

import { getJson } from "./api.js";
import { h } from "./dom.js";

let current = { base: null, adapters: [] };
const listeners = new Set();

/** Read one /v1/models entry into {name, kind, card, raw}. */
function normalise(entry) {
  const card = entry.card || {};
  const name = entry.id || entry.name;
  const kind = entry.kind || (entry.parent || card.base_model ? "adapter" : "base");
  return { name, kind, card: entry.card || null, raw: entry };
}

/** Fetch the model list and notify subscribers. Resolves with {base, adapters}. */
export async function refreshCatalog() {
  const body = await getJson("/v1/models");
  const entries = (Array.isArray(body) ? body : body.data || body.models || []).map(normalise);
  const base = entries.find((e) => e.kind === "base") || null;
  const adapters = entries.filter((e) => e.kind === "adapter");
  current = { base, adapters };
  listeners.forEach((fn) => fn(current));
  return current;
}

/** The last fetched catalogue. */
export function catalog() {
  return current;
}

/** Call `fn(catalog)` now and after every refresh. */
export function subscribe(fn) {
  listeners.add(fn);
  fn(current);
}

/** Fill a <select> with "no adapter" plus every adapter, keeping the selection when possible. */
export function fillAdapterSelect(select, { allowNone = true } = {}) {
  subscribe(({ adapters }) => {
    const previous = select.value;
    select.replaceChildren(
      allowNone ? h("option", { value: "" }, adapters.length ? "gateway default" : "none available") : null,
      ...adapters.map((a) => h("option", { value: a.name }, a.name)),
    );
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  });
}

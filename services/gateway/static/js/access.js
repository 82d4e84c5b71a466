// What the page's API key may do: GET /v1/whoami sets data-can-ROLE="true|false" on <body>, and
// style.css hides every element marked data-needs="ROLE" the key lacks (upload, documents, KPIs…).
// Until the gateway answers (or without a valid key) nothing is hidden: the calls themselves say 401.

import { getJson } from "./api.js";

export const ROLES = ["chat", "documents", "adapters", "rate", "admin"];

/** Ask the gateway what the current key may do and mark the page; returns the answer (or null). */
export async function applyAccess() {
  let who = null;
  try {
    who = await getJson("/v1/whoami");
  } catch {
    who = null;
  }
  for (const role of ROLES) {
    const name = `can${role[0].toUpperCase()}${role.slice(1)}`;
    document.body.dataset[name] = who ? String(Boolean(who.can && who.can[role])) : "unknown";
  }
  document.body.dataset.tenant = who ? who.tenant : "";
  return who;
}

/** True when the element (or an ancestor) is hidden because the key lacks a role. */
export function hiddenByRole(element) {
  const gated = element && element.closest("[data-needs]");
  return Boolean(gated) && document.body.dataset[`can${gated.dataset.needs[0].toUpperCase()}${gated.dataset.needs.slice(1)}`] === "false";
}

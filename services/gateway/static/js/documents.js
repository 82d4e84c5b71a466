// The documents view: the tenant's indexed documents; upload (indexed on arrival) and delete.

import { deleteResource, getJson, postForm } from "./api.js";
import { errorBox, fmtBytes, fmtDate, fmtInt, h, setChildren, toast } from "./dom.js";

/** Read a GET /v1/documents body into a list of document records. */
function documentsOf(body) {
  const list = Array.isArray(body) ? body : body.documents || body.data || [];
  return list.map((d) => ({
    id: d.doc_id || d.id,
    title: d.title || d.name || d.doc_id || d.id,
    source: d.source || d.path || "",
    namespace: d.namespace || "default",
    chunks: d.chunks ?? d.chunk_count ?? d.n_chunks ?? d.num_chunks,
    format: d.format || "",
    added: d.added_at || d.created_at || d.created,
  }));
}

const OUTCOME_WORDS = {
  added: "indexed",
  replaced: "re-indexed (replaced the earlier version)",
  skipped: "unchanged, already indexed",
  failed: "failed",
};

/** What a POST /v1/documents answer ({namespace, reports: [{documents: [outcome…]}]}) says, in words. */
function uploadSummary(fileName, result) {
  const outcomes = ((result && result.reports) || []).flatMap((r) => r.documents || []);
  if (!outcomes.length) return h("span", { class: "ok" }, `✓ Uploaded ${fileName}`);
  return h("ul", { class: "outcomes" }, outcomes.map((o) => {
    const failed = o.status === "failed";
    return h("li", { class: failed ? "bad" : "ok" },
      failed ? "✗ " : "✓ ", h("strong", {}, o.title || o.source || fileName),
      ` ${OUTCOME_WORDS[o.status] || o.status}`,
      !failed && o.chunks ? ` · ${o.chunks} chunks` : "",
      o.doc_id ? [" · ", h("code", {}, o.doc_id)] : "",
      result.namespace ? ` in namespace ${result.namespace}` : "",
      o.reason ? `: ${o.reason}` : "");
  }));
}

/** Ask the user to confirm through the page's confirm dialog; resolves true/false. */
function confirmAction(message, actionLabel) {
  const dialog = document.getElementById("confirm-dialog");
  dialog.querySelector(".confirm-message").textContent = message;
  dialog.querySelector("button[value=confirm]").textContent = actionLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}

/** Wire up the documents view; returns a function that reloads the list. */
export function initDocuments() {
  const form = document.getElementById("upload-form");
  const fileInput = document.getElementById("upload-file");
  const namespaceInput = document.getElementById("upload-namespace");
  const status = document.getElementById("upload-status");
  const listArea = document.getElementById("documents-list");
  const dropzone = document.getElementById("dropzone");
  const submit = form.querySelector("button[type=submit]");

  const namespaceQuery = () => {
    const namespace = namespaceInput.value.trim();
    return namespace ? `?namespace=${encodeURIComponent(namespace)}` : "";
  };

  async function reload() {
    listArea.setAttribute("aria-busy", "true");
    try {
      const body = await getJson(`/v1/documents${namespaceQuery()}`);
      renderList(documentsOf(body), body.namespace);
    } catch (error) {
      setChildren(listArea, errorBox(error));
    } finally {
      listArea.setAttribute("aria-busy", "false");
    }
  }

  function renderList(docs, namespace) {
    const where = namespace ? ` in namespace ${namespace}` : "";
    if (docs.length === 0) {
      setChildren(listArea, h("p", { class: "empty" }, `No documents indexed yet${where}. Upload one above, or run `,
        h("code", {}, "ragtune index add PATH"), "."));
      return;
    }
    const totalChunks = docs.reduce((sum, d) => sum + (d.chunks || 0), 0);
    setChildren(listArea,
      h("p", { class: "muted small" }, `${docs.length} ${docs.length === 1 ? "document" : "documents"} · ${fmtInt(totalChunks)} chunks${where}`),
      h("div", { class: "table-wrap" },
        h("table", { class: "doc-table" },
          h("caption", { class: "visually-hidden" }, "Indexed documents"),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col" }, "Title"),
            h("th", { scope: "col" }, "Document id"),
            h("th", { scope: "col" }, "Namespace"),
            h("th", { scope: "col", class: "num" }, "Chunks"),
            h("th", { scope: "col" }, "Format"),
            h("th", { scope: "col" }, "Added"),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
          h("tbody", {}, docs.map((d) => h("tr", { dataset: { docId: d.id } },
            h("td", {}, h("div", { class: "doc-title" }, d.title), d.source ? h("div", { class: "muted small break" }, d.source) : null),
            h("td", {}, h("code", {}, d.id)),
            h("td", {}, d.namespace),
            h("td", { class: "num" }, fmtInt(d.chunks)),
            h("td", {}, d.format || "–"),
            h("td", { class: "small" }, fmtDate(d.added)),
            h("td", {}, h("button", {
              type: "button", class: "danger small-button", "aria-label": `Delete ${d.title}`,
              onclick: () => remove(d),
            }, "Delete"))))))));
  }

  async function remove(doc) {
    const ok = await confirmAction(`Delete "${doc.title}" and its chunks from the index?`, "Delete");
    if (!ok) return;
    try {
      await deleteResource(`/v1/documents/${encodeURIComponent(doc.id)}${namespaceQuery()}`);
      toast(`Deleted ${doc.title}`, "ok");
    } catch (error) {
      toast(`Could not delete ${doc.title}: ${error.message}`, "error");
    }
    await reload();
  }

  namespaceInput.addEventListener("change", reload);

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    dropzone.querySelector(".dropzone-file").textContent = file ? `Ready to upload: ${file.name} (${fmtBytes(file.size)})` : "";
  });
  ["dragenter", "dragover"].forEach((type) => dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    dropzone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((type) => dropzone.addEventListener(type, () => dropzone.classList.remove("dragging")));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) {
      fileInput.files = event.dataTransfer.files;
      fileInput.dispatchEvent(new Event("change"));
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = fileInput.files[0];
    if (!file) {
      setChildren(status, errorBox(new Error("Choose a file to upload.")));
      fileInput.focus();
      return;
    }
    const data = new FormData();
    data.append("files", file);
    if (namespaceInput.value.trim()) data.append("namespace", namespaceInput.value.trim());
    submit.disabled = true;
    setChildren(status, h("span", { class: "muted" }, `Uploading and indexing ${file.name}…`));
    try {
      const result = await postForm("/v1/documents", data);
      setChildren(status, uploadSummary(file.name, result));
      fileInput.value = "";
      fileInput.dispatchEvent(new Event("change"));
      await reload();
    } catch (error) {
      setChildren(status, errorBox(error));
    } finally {
      submit.disabled = false;
    }
  });

  return reload;
}

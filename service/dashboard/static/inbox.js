// The inbox demo: list, mark and stream one recipient's items with a recipient token.
"use strict";
(() => {
  const root = document.getElementById("inbox");
  const token = root.dataset.token;
  const list = document.getElementById("items");
  const headers = {"x-herald-inbox-token": token, "content-type": "application/json"};
  const shown = new Set();

  const setUnread = (counts) => { document.getElementById("unread").textContent = String(counts.unread); };

  const render = (item, first) => {
    if (shown.has(item.id)) return;
    shown.add(item.id);
    const li = document.createElement("li");
    li.dataset.id = item.id;
    li.className = item.read_at ? "read" : "unread";
    const title = document.createElement("strong");
    title.textContent = item.title || "";
    const body = document.createElement("span");
    body.textContent = item.body || "";
    li.append(title, body);
    li.addEventListener("click", () => mark(item.id));
    first ? list.prepend(li) : list.append(li);
  };

  const mark = async (id) => {
    await fetch(`/v1/inbox/items/${encodeURIComponent(id)}`, {method: "PATCH", headers, body: JSON.stringify({read: true})});
  };

  const applyUpdate = (change) => {
    for (const id of change.ids || []) {
      const li = list.querySelector(`li[data-id="${CSS.escape(id)}"]`);
      if (li && change.state === "read") li.className = change.on ? "read" : "unread";
    }
  };

  document.getElementById("mark-all").addEventListener("click", () =>
    fetch("/v1/inbox/mark-all", {method: "POST", headers, body: JSON.stringify({state: "read"})}));

  fetch("/v1/inbox?limit=50", {headers}).then((r) => r.json()).then((page) => {
    page.items.forEach((item) => render(item, false));
    setUnread(page);
  });

  const stream = new EventSource(`/v1/inbox/stream?token=${encodeURIComponent(token)}`);
  stream.addEventListener("open", () => { document.getElementById("state").textContent = "live"; });
  stream.addEventListener("error", () => { document.getElementById("state").textContent = "reconnecting…"; });
  stream.addEventListener("inbox.counts", (e) => setUnread(JSON.parse(e.data)));
  stream.addEventListener("inbox.item", (e) => {
    const item = JSON.parse(e.data);
    render(item, true);
    setUnread(item.counts);
  });
  stream.addEventListener("inbox.updated", (e) => {
    const change = JSON.parse(e.data);
    applyUpdate(change);
    setUnread(change.counts);
  });
})();

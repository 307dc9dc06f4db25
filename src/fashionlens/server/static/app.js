// The search page: a photo (or a box drawn on it), words and filters become one POST /api/search.
// Plain DOM, no framework; every value from the server is inserted as text, never as HTML.

const K = 24;
const MAX_SIDE = 1024; // photos are re-encoded to this size at most: the model sees 224 px anyway
const MIN_BOX = 8; // a drag shorter than this (display px) is a click, and clears the box
// Attributes shown as tags besides category and colour.
const TAG_FIELDS = ["subcategory", "pattern", "fabric"];
// Taxonomy colours that are not CSS colour names.
const SWATCH = { burgundy: "#800020", mint: "#98e0b8", beige: "#e8dcc4", khaki: "#c3b091" };

const $ = (id) => document.getElementById(id);
const state = { blob: null, url: null, box: null, category: "", color: "" };
let searching = null; // AbortController of the request in flight
let describing = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function errorText(response) {
  try {
    const { detail } = await response.json();
    if (Array.isArray(detail)) return detail.map((d) => `${d.loc.at(-1)}: ${d.msg}`).join("; ");
    return detail || response.statusText;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// --- the photo ---------------------------------------------------------------------------------------

async function prepare(file) {
  // Upright, at most MAX_SIDE px, JPEG on white. A file the browser cannot decode is sent as is, so the
  // server's message says what is wrong with it.
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = el("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  } catch {
    return file;
  }
}

async function setPhoto(file) {
  if (!file) return;
  showError("");
  const blob = await prepare(file);
  if (state.url) URL.revokeObjectURL(state.url);
  Object.assign(state, { blob, url: URL.createObjectURL(blob), box: null });
  $("photo").src = state.url;
  $("drop").hidden = true;
  $("preview").hidden = false;
  drawBox();
  search();
  describe();
}

function removePhoto() {
  if (state.url) URL.revokeObjectURL(state.url);
  Object.assign(state, { blob: null, url: null, box: null });
  $("file").value = "";
  $("photo").removeAttribute("src");
  $("preview").hidden = true;
  $("drop").hidden = false;
  $("described").hidden = true;
  search();
}

function region() {
  // The searched part of the photo as its own image, for the caption.
  if (!state.box) return Promise.resolve(state.blob);
  const [x0, y0, x1, y1] = state.box;
  const canvas = el("canvas");
  canvas.width = x1 - x0;
  canvas.height = y1 - y0;
  canvas.getContext("2d").drawImage($("photo"), x0, y0, x1 - x0, y1 - y0, 0, 0, x1 - x0, y1 - y0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
}

// --- the box ----------------------------------------------------------------------------------------

function drawBox() {
  const box = $("box");
  $("clear-box").disabled = !state.box;
  if (!state.box) {
    box.hidden = true;
    return;
  }
  const photo = $("photo");
  const scale = photo.clientWidth / photo.naturalWidth;
  const [x0, y0, x1, y1] = state.box;
  Object.assign(box.style, {
    left: `${x0 * scale}px`,
    top: `${y0 * scale}px`,
    width: `${(x1 - x0) * scale}px`,
    height: `${(y1 - y0) * scale}px`,
  });
  box.hidden = false;
}

function bindBoxDrawing() {
  const stage = $("stage");
  const photo = $("photo");
  let start = null;

  const point = (event) => {
    const rect = photo.getBoundingClientRect();
    return [
      Math.min(Math.max(event.clientX - rect.left, 0), rect.width),
      Math.min(Math.max(event.clientY - rect.top, 0), rect.height),
    ];
  };
  const toImage = ([ax, ay], [bx, by]) => {
    const scale = photo.naturalWidth / photo.clientWidth;
    return [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)].map((v) =>
      Math.round(v * scale),
    );
  };

  stage.addEventListener("pointerdown", (event) => {
    if (!photo.naturalWidth || event.button !== 0) return;
    event.preventDefault();
    start = point(event);
    stage.setPointerCapture(event.pointerId);
  });
  stage.addEventListener("pointermove", (event) => {
    if (!start) return;
    state.box = toImage(start, point(event));
    drawBox();
  });
  stage.addEventListener("pointerup", (event) => {
    if (!start) return;
    const end = point(event);
    const small = Math.abs(end[0] - start[0]) < MIN_BOX || Math.abs(end[1] - start[1]) < MIN_BOX;
    state.box = small ? null : toImage(start, end);
    start = null;
    drawBox();
    search();
    describe();
  });
  stage.addEventListener("pointercancel", () => {
    start = null;
  });
  window.addEventListener("resize", drawBox);
}

// --- requests ---------------------------------------------------------------------------------------

function where() {
  const quote = (value) => `'${value.replaceAll("'", "''")}'`;
  const clauses = [];
  if (state.category) clauses.push(`category = ${quote(state.category)}`);
  if (state.color) clauses.push(`color = ${quote(state.color)}`);
  return clauses.join(" AND ");
}

async function search() {
  searching?.abort();
  const text = $("text").value.trim();
  if (!state.blob && !text) {
    searching = null;
    renderResults(null);
    return;
  }
  const form = new FormData();
  if (state.blob) form.append("image", state.blob, "query.jpg");
  if (text) form.append("text", text);
  if (state.box) form.append("box", state.box.join(","));
  if (where()) form.append("where", where());
  form.append("k", String(K));

  const controller = (searching = new AbortController());
  document.body.classList.add("busy");
  $("status").textContent = "Searching…";
  try {
    const response = await fetch("/api/search", { method: "POST", body: form, signal: controller.signal });
    if (!response.ok) throw new Error(await errorText(response));
    const body = await response.json();
    showError("");
    renderResults(body.results, body.took_ms);
  } catch (error) {
    if (error.name === "AbortError") return;
    showError(error.message);
    renderResults([]);
  } finally {
    if (searching === controller) {
      searching = null;
      document.body.classList.remove("busy");
    }
  }
}

async function describe() {
  describing?.abort();
  const controller = (describing = new AbortController());
  const form = new FormData();
  form.append("image", await region(), "region.jpg");
  try {
    const response = await fetch("/api/caption", { method: "POST", body: form, signal: controller.signal });
    if (!response.ok) throw new Error(await errorText(response));
    const { caption, attributes } = await response.json();
    $("description").textContent = caption;
    $("description-tags").replaceChildren(...tags(attributes));
    $("described").hidden = false;
  } catch (error) {
    if (error.name !== "AbortError") $("described").hidden = true;
  }
}

// --- rendering --------------------------------------------------------------------------------------

function swatchColor(name) {
  return SWATCH[name] || name;
}

function tags(attributes) {
  // Category and colours, then the few attributes that read well on their own.
  const { category, color, ...rest } = attributes || {};
  const out = [];
  if (category) out.push(el("span", "tag strong", category));
  for (const name of [].concat(color || [])) {
    const tag = el("span", "tag");
    const dot = el("i", "dot");
    dot.style.background = swatchColor(name);
    tag.append(dot, name);
    out.push(tag);
  }
  for (const field of TAG_FIELDS) {
    if (rest[field] && rest[field] !== category) out.push(el("span", "tag", rest[field]));
  }
  return out;
}

function safeUrl(url) {
  try {
    const parsed = new URL(url, window.location.href);
    return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

function formatPrice(price) {
  if (price === undefined || price === null || price === "") return "";
  return typeof price === "number" ? price.toFixed(2) : String(price);
}

function card(item) {
  const url = safeUrl(item.url);
  const article = el("article", "item");
  const thumb = el(url ? "a" : "div", "thumb");
  if (url) Object.assign(thumb, { href: url, target: "_blank", rel: "noopener noreferrer" });
  const img = el("img");
  Object.assign(img, { src: item.image, alt: item.title || item.caption || item.id, loading: "lazy" });
  thumb.append(img, el("span", "score", Number(item.score).toFixed(2)));
  thumb.lastChild.title = "Similarity to your query";

  const body = el("div", "item-body");
  body.append(el("h3", "title", item.title || item.caption || item.id));
  if (item.title && item.caption) body.append(el("p", "caption", item.caption));
  const tagRow = el("div", "tags");
  tagRow.append(...tags(item.attributes));
  body.append(tagRow);
  const foot = el("div", "item-foot");
  foot.append(el("span", "price", formatPrice(item.price)));
  if (url) {
    const link = el("a", "link", "View item ↗");
    Object.assign(link, { href: url, target: "_blank", rel: "noopener noreferrer" });
    foot.append(link);
  }
  body.append(foot);
  article.append(thumb, body);
  return article;
}

function renderResults(results, tookMs) {
  const grid = $("grid");
  if (results === null) {
    grid.replaceChildren();
    $("empty").hidden = false;
    $("summary").textContent = "Start with a photo or a few words";
    $("status").textContent = "";
    return;
  }
  $("empty").hidden = true;
  grid.replaceChildren(...results.map(card));
  const what = state.blob ? (state.box ? "the boxed garment" : "your photo") : "your words";
  $("summary").textContent = results.length
    ? `${results.length} items like ${what}`
    : "No items match these filters";
  $("status").textContent = tookMs === undefined ? "" : `${Math.round(tookMs)} ms`;
}

function renderFacets(facets) {
  for (const name of facets.category || []) {
    $("category").append(new Option(name, name));
  }
  const swatches = (facets.color || []).map((name) => {
    const button = el("button", "swatch");
    Object.assign(button, { type: "button", title: name });
    button.setAttribute("aria-label", name);
    button.setAttribute("aria-pressed", "false");
    button.dataset.color = name;
    button.style.background = swatchColor(name);
    button.addEventListener("click", () => {
      state.color = state.color === name ? "" : name;
      for (const other of $("colors").children) {
        other.setAttribute("aria-pressed", String(other.dataset.color === state.color));
      }
      search();
    });
    return button;
  });
  $("colors").replaceChildren(...swatches);
}

// --- wiring -----------------------------------------------------------------------------------------

async function init() {
  const drop = $("drop");
  $("file").addEventListener("change", (event) => setPhoto(event.target.files[0]));
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      $("file").click();
    }
  });
  for (const target of [drop, $("stage")]) {
    target.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    target.addEventListener("dragleave", () => drop.classList.remove("over"));
    target.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      setPhoto(event.dataTransfer.files[0]);
    });
  }
  window.addEventListener("paste", (event) => {
    const file = [...event.clipboardData.files].find((f) => f.type.startsWith("image/"));
    if (file) setPhoto(file);
  });
  $("photo").addEventListener("load", drawBox);
  $("remove-photo").addEventListener("click", removePhoto);
  $("clear-box").addEventListener("click", () => {
    state.box = null;
    drawBox();
    search();
    describe();
  });
  $("text-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  $("category").addEventListener("change", (event) => {
    state.category = event.target.value;
    search();
  });
  for (const example of document.querySelectorAll(".example")) {
    example.addEventListener("click", () => {
      $("text").value = example.textContent;
      search();
    });
  }
  bindBoxDrawing();

  const [health, facets] = await Promise.all([fetch("/health"), fetch("/api/facets")]);
  if (health.ok) {
    const { items } = await health.json();
    $("count").textContent = `${items.toLocaleString()} items indexed`;
    $("count").hidden = false;
  }
  if (facets.ok) renderFacets(await facets.json());
}

init();

// loraloom browser glue: the LoRA gallery and the weight-slider panels.
//
// gradio only provides two empty containers (.loraloom-gallery, .loraloom-sliders-panel); this
// script draws cards and slider rows from the REST routes under data-api. Every prompt edit is
// computed by the server's syntax editor and applied here as ONE range replacement with
// execCommand("insertText"), so nothing else in the prompt changes and the textarea's own undo
// (Ctrl+Z) still works. A1111 loads this file itself; the standalone app injects it.
(() => {
    "use strict";
    if (window.loraloom) return;
    const loraloom = (window.loraloom = { family: "", galleries: [], panels: [] });

    const A1111_PROMPTS = [
        "#txt2img_prompt textarea",
        "#txt2img_neg_prompt textarea",
        "#img2img_prompt textarea",
        "#img2img_neg_prompt textarea",
    ];
    const CARD_WIDTH = 184;
    const CARD_HEIGHT = 270;
    const GAP = 10;
    const FAMILY_LABELS = { sd1: "SD1", sd2: "SD2", sdxl: "SDXL", unknown: "other" };
    const COLLATOR = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

    // ---- small helpers ---------------------------------------------------------------------

    function appRoot() {
        const app = document.querySelector("gradio-app");
        return (app && app.shadowRoot) || document;
    }

    function esc(text) {
        return String(text ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    }

    async function api(base, path, body) {
        const options = body === undefined ? {} : {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(body),
        };
        const response = await fetch(base + path, options);
        const data = await response.json().catch(() => ({}));
        if (!response.ok) {
            const error = new Error(data.detail || `${response.status} ${response.statusText}`);
            error.status = response.status;
            throw error;
        }
        return data;
    }

    function debounce(fn, ms) {
        let timer = null;
        return (...args) => {
            clearTimeout(timer);
            timer = setTimeout(() => fn(...args), ms);
        };
    }

    function toast(host, message, isError) {
        let box = host.querySelector(":scope > .loraloom-toast");
        if (!box) {
            box = document.createElement("div");
            box.className = "loraloom-toast";
            host.appendChild(box);
        }
        box.textContent = message;
        box.classList.toggle("loraloom-toast-error", !!isError);
        box.classList.add("loraloom-toast-show");
        clearTimeout(box._timer);
        box._timer = setTimeout(() => box.classList.remove("loraloom-toast-show"), isError ? 6000 : 2500);
    }

    function formatWeight(value) {
        return Number.isFinite(value) ? String(Math.round(value * 1000) / 1000) : "";
    }

    // ---- prompts: which textarea a card click edits, and how edits are applied --------------

    let lastPrompt = null;
    let focusingProgrammatically = false;
    const addedWordsByPrompt = new WeakMap(); // textarea -> Map(name -> trigger words it added)

    function promptSelectors() {
        const selectors = [];
        for (const panel of loraloom.panels) selectors.push(panel.el.dataset.prompt, panel.el.dataset.negative);
        return selectors.concat(A1111_PROMPTS);
    }

    function knownPrompts() {
        const root = appRoot();
        return promptSelectors().map((s) => root.querySelector(s)).filter(Boolean);
    }

    document.addEventListener("focusin", (event) => {
        const target = event.composedPath ? event.composedPath()[0] : event.target;
        if (!focusingProgrammatically && target && target.tagName === "TEXTAREA" && knownPrompts().includes(target)) {
            lastPrompt = target;
        }
    }, true);

    function targetPrompt() {
        if (lastPrompt && lastPrompt.isConnected) return lastPrompt;
        return knownPrompts()[0] || null;
    }

    function promptLabel(textarea) {
        const block = textarea.closest("[id]");
        const label = textarea.closest("label");
        const span = label && label.querySelector("span");
        return (span && span.textContent.trim()) || (block && block.id) || "prompt";
    }

    function addedWords(textarea) {
        if (!addedWordsByPrompt.has(textarea)) addedWordsByPrompt.set(textarea, new Map());
        return addedWordsByPrompt.get(textarea);
    }

    function isVisible(element) {
        return !!(element.offsetWidth || element.offsetHeight || element.getClientRects().length);
    }

    // Replace change.start..change.end by change.text; keeps undo when the textarea is visible.
    function applyChange(textarea, change, refocus) {
        let applied = false;
        if (isVisible(textarea)) {
            focusingProgrammatically = true;
            try {
                textarea.focus({ preventScroll: true });
                textarea.setSelectionRange(change.start, change.end);
                if (change.text) applied = document.execCommand("insertText", false, change.text);
                else applied = change.start === change.end || document.execCommand("delete", false);
            } finally {
                focusingProgrammatically = false;
            }
        }
        if (!applied || textarea.value !== change.full) {
            textarea.value = change.full;
            textarea.dispatchEvent(new Event("input", { bubbles: true }));
        }
        textarea.setSelectionRange(change.cursor, change.cursor);
        if (refocus && refocus !== textarea) {
            focusingProgrammatically = true;
            refocus.focus({ preventScroll: true });
            focusingProgrammatically = false;
        }
    }

    // Ask the server for an edit of the textarea's current text; retry if the text moved on.
    async function editPrompt(base, textarea, path, body, refocus) {
        for (let attempt = 0; attempt < 3; attempt++) {
            const text = textarea.value;
            const result = await api(base, path, { ...body, text });
            if (textarea.value !== text) continue;
            applyChange(textarea, result.change || result, refocus);
            return result;
        }
        throw new Error("the prompt kept changing; try again");
    }

    // ---- weight-slider panel -----------------------------------------------------------------

    class SliderPanel {
        constructor(el) {
            this.el = el;
            this.base = el.dataset.api;
            this.rows = new Map();
            this.split = new Set();
            this.queue = new Map(); // textarea -> {busy, next}
            this.refreshSoon = debounce(() => this.refresh(), 150);
            this.bound = new WeakSet();
            this.el.addEventListener("input", (e) => this.onControl(e, false));
            this.el.addEventListener("change", (e) => this.onControl(e, true));
            this.el.addEventListener("click", (e) => this.onClick(e));
            this.el.addEventListener("pointerdown", (e) => {
                if (e.target.classList.contains("loraloom-range")) this.dragging = e.target;
            });
            document.addEventListener("pointerup", () => { this.dragging = null; });
            this.bind();
        }

        textarea(source) {
            return appRoot().querySelector(source === "negative" ? this.el.dataset.negative : this.el.dataset.prompt);
        }

        bind() {
            let waiting = false;
            for (const source of ["positive", "negative"]) {
                const textarea = this.textarea(source);
                if (!textarea) { waiting = true; continue; }
                if (this.bound.has(textarea)) continue;
                this.bound.add(textarea);
                textarea.addEventListener("input", () => this.refreshSoon());
            }
            if (waiting) setTimeout(() => this.bind(), 500);
            this.refresh();
        }

        async refresh() {
            const prompt = this.textarea("positive");
            const negative = this.textarea("negative");
            if (!prompt) return;
            try {
                const data = await api(this.base, "/rows", {
                    prompt: prompt.value,
                    negative: negative ? negative.value : "",
                    family: loraloom.family,
                });
                this.render([...data.positive, ...data.negative]);
            } catch (error) {
                toast(this.el, `LoRA sliders: ${error.message}`, true);
            }
        }

        render(rows) {
            const seen = new Set();
            let previous = null;
            for (const row of rows) {
                const key = `${row.source}:${row.index}:${row.name}`;
                seen.add(key);
                let element = this.rows.get(key);
                if (!element) {
                    element = this.createRow(row, key);
                    this.rows.set(key, element);
                }
                this.updateRow(element, row, key);
                const after = previous ? previous.nextSibling : this.el.firstChild;
                if (element !== after) this.el.insertBefore(element, after);
                previous = element;
            }
            for (const [key, element] of this.rows) {
                if (!seen.has(key)) {
                    element.remove();
                    this.rows.delete(key);
                }
            }
            let empty = this.el.querySelector(".loraloom-sliders-empty");
            if (!empty) {
                empty = document.createElement("div");
                empty.className = "loraloom-sliders-empty";
                empty.textContent = "No LoRA tags in the prompts.";
                this.el.appendChild(empty);
            }
            empty.hidden = rows.length > 0;
        }

        createRow(row, key) {
            const element = document.createElement("div");
            element.className = "loraloom-slider";
            element.dataset.key = key;
            const part = (name, label) => `
                <label class="loraloom-part" data-part="${name}">
                    <span class="loraloom-part-label">${label}</span>
                    <input type="range" class="loraloom-range" data-part="${name}" step="0.05">
                    <input type="number" class="loraloom-number" data-part="${name}" step="0.05">
                </label>`;
            element.innerHTML = `
                <span class="loraloom-slider-name"></span>
                <span class="loraloom-slider-source"></span>
                <span class="loraloom-warning" hidden>⚠</span>
                ${part("te", "weight")}${part("unet", "UNet")}
                <span class="loraloom-scheduled" hidden>scheduled weight: edit it in the prompt</span>
                <label class="loraloom-split-label" title="Separate text-encoder and UNet weights">
                    <input type="checkbox" class="loraloom-split"> TE/UNet</label>
                <button type="button" class="loraloom-remove" title="Remove this tag from the prompt">✕</button>`;
            return element;
        }

        updateRow(element, row, key) {
            element.dataset.name = row.name;
            element.dataset.source = row.source;
            element.dataset.index = row.index;
            element._row = row;
            element.querySelector(".loraloom-slider-name").textContent = row.name || "(no name)";
            element.querySelector(".loraloom-slider-source").textContent = row.source === "negative" ? "negative" : "";
            const warning = element.querySelector(".loraloom-warning");
            warning.hidden = !row.warning;
            warning.title = row.warning || "";
            element.classList.toggle("loraloom-slider-problem", !!row.warning);
            const split = row.split || this.split.has(key);
            if (row.split) this.split.add(key);
            element.querySelector(".loraloom-split").checked = split;
            element.querySelector('.loraloom-part[data-part="unet"]').hidden = !split || row.scheduled;
            element.querySelector('.loraloom-part[data-part="te"] .loraloom-part-label').textContent = split ? "TE" : "weight";
            element.querySelector('.loraloom-part[data-part="te"]').hidden = row.scheduled;
            element.querySelector(".loraloom-scheduled").hidden = !row.scheduled;
            element.querySelector(".loraloom-split").disabled = row.scheduled;
            for (const part of ["te", "unet"]) {
                const value = row[part] ?? row.te;
                for (const input of element.querySelectorAll(`input[data-part="${part}"]`)) {
                    input.min = row.min;
                    input.max = row.max;
                    const active = input === this.dragging || (input === document.activeElement && input.type === "number");
                    if (!active && value !== null && value !== undefined) input.value = formatWeight(value);
                }
            }
        }

        onControl(event, committed) {
            const input = event.target;
            const element = input.closest(".loraloom-slider");
            if (!element) return;
            if (input.classList.contains("loraloom-split")) {
                if (!committed) return;
                if (input.checked) this.split.add(element.dataset.key);
                else this.split.delete(element.dataset.key);
                if (!input.checked) this.sendWeight(element, null);
                this.updateRow(element, element._row, element.dataset.key);
                return;
            }
            const part = input.dataset.part;
            if (!part) return;
            const value = parseFloat(input.value);
            if (!Number.isFinite(value)) return;
            if (input.type === "number" && !committed) return; // typed values apply on Enter/blur
            const pair = element.querySelector(`input[data-part="${part}"]:not([type="${input.type}"])`);
            if (pair) pair.value = formatWeight(value);
            this.sendWeight(element, input);
        }

        sendWeight(element, origin) {
            const row = element._row;
            const textarea = this.textarea(row.source);
            if (!textarea) return;
            const read = (part) => parseFloat(element.querySelector(`input[type="number"][data-part="${part}"]`).value);
            const split = element.querySelector(".loraloom-split").checked;
            const te = read("te");
            const request = { index: row.index, te, unet: split ? read("unet") : null };
            if (!Number.isFinite(te)) return;
            let state = this.queue.get(textarea);
            if (!state) this.queue.set(textarea, (state = { busy: false, next: null }));
            state.next = { request, origin };
            if (!state.busy) this.drain(textarea, state);
        }

        async drain(textarea, state) {
            state.busy = true;
            while (state.next) {
                const { request, origin } = state.next;
                state.next = null;
                try {
                    await editPrompt(this.base, textarea, "/weight", request, origin);
                } catch (error) {
                    toast(this.el, error.message, true);
                }
            }
            state.busy = false;
        }

        async onClick(event) {
            const button = event.target.closest(".loraloom-remove");
            if (!button) return;
            const element = button.closest(".loraloom-slider");
            const row = element._row;
            const textarea = this.textarea(row.source);
            if (!textarea) return;
            const words = addedWords(textarea).get(row.name) || [];
            try {
                await editPrompt(this.base, textarea, "/remove", { index: row.index, added_words: words });
                addedWords(textarea).delete(row.name);
                this.refresh();
            } catch (error) {
                toast(this.el, error.message, true);
            }
        }
    }

    // ---- gallery -----------------------------------------------------------------------------

    function initials(name) {
        const words = name.split("/").pop().split(/[\s_\-.]+/).filter(Boolean);
        return (words.length > 1 ? words[0][0] + words[1][0] : (words[0] || "?").slice(0, 2)).toUpperCase();
    }

    function hue(name) {
        let h = 0;
        for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
        return h;
    }

    class Gallery {
        constructor(el) {
            this.el = el;
            this.base = el.dataset.api;
            this.cards = [];
            this.cardsVersion = 0;
            this.shown = [];
            this.folder = "";
            this.state = {};
            this.build();
            this.load();
            new IntersectionObserver((entries) => {
                if (entries.some((e) => e.isIntersecting)) this.reloadState();
            }).observe(el);
        }

        build() {
            this.el.innerHTML = `
                <div class="loraloom-toolbar">
                    <input id="loraloom-search" type="search" placeholder="Search name, alias, trigger words, tags…">
                    <select class="loraloom-sort" title="Sort">
                        <option value="name">Name</option><option value="date">Newest</option>
                        <option value="size">Size</option><option value="used">Last used</option>
                    </select>
                    <select class="loraloom-family" title="Model family to check LoRAs against" hidden>
                        <option value="">Any model</option><option value="sd1">SD1 model</option>
                        <option value="sd2">SD2 model</option><option value="sdxl">SDXL model</option>
                    </select>
                    <label><input type="checkbox" class="loraloom-favourites-only"> ★ only</label>
                    <label title="LoRAs of another family are dimmed; tick to hide them">
                        <input type="checkbox" class="loraloom-hide-other"> hide other families</label>
                    <label title="A click also inserts the trigger words (and removing the tag removes them)">
                        <input type="checkbox" class="loraloom-with-words"> with trigger words</label>
                    <button type="button" class="loraloom-refresh" title="Look for new and changed files">⟳ Refresh</button>
                    <span class="loraloom-progress"></span>
                    <span class="loraloom-count"></span>
                </div>
                <div class="loraloom-breadcrumb"></div>
                <div class="loraloom-problems" hidden></div>
                <div class="loraloom-scroller"><div class="loraloom-grid"></div></div>
                <div class="loraloom-detail" hidden></div>`;
            const q = (s) => this.el.querySelector(s);
            this.search = q("#loraloom-search");
            this.scroller = q(".loraloom-scroller");
            this.grid = q(".loraloom-grid");
            this.detail = q(".loraloom-detail");
            this.search.addEventListener("input", () => this.filter());
            for (const s of [".loraloom-sort", ".loraloom-favourites-only", ".loraloom-hide-other"]) {
                q(s).addEventListener("change", () => this.filter());
            }
            q(".loraloom-family").addEventListener("change", (e) => {
                loraloom.family = e.target.value;
                this.filter();
                for (const panel of loraloom.panels) panel.refresh();
            });
            q(".loraloom-refresh").addEventListener("click", () => this.refresh());
            q(".loraloom-breadcrumb").addEventListener("click", (e) => {
                const crumb = e.target.closest("[data-folder]");
                if (crumb) {
                    this.folder = crumb.dataset.folder;
                    this.filter();
                }
            });
            this.scroller.addEventListener("scroll", () => this.draw());
            new ResizeObserver(() => this.draw()).observe(this.scroller);
            this.grid.addEventListener("click", (e) => this.onCardClick(e));
            this.detail.addEventListener("click", (e) => this.onDetailClick(e));
        }

        modelFamily() {
            return this.state.family_choice ? loraloom.family : this.state.model_family || "";
        }

        async load() {
            try {
                const data = await api(this.base, "/cards");
                const first = !this.cards.length && !this.loadedOnce;
                this.loadedOnce = true;
                this.cards = data.cards;
                this.cardsVersion++;
                this.applyState(data.state, first);
                this.filter();
                if (data.state.progress.phase !== "idle") this.poll();
            } catch (error) {
                this.grid.textContent = `LoRAs could not be listed: ${error.message}`;
            }
        }

        applyState(state, first) {
            this.state = state;
            const q = (s) => this.el.querySelector(s);
            if (first) {
                q(".loraloom-hide-other").checked = !!state.hide_other_families;
                q(".loraloom-with-words").checked = !!state.trigger_words;
                q(".loraloom-family").hidden = !state.family_choice;
            }
            const problems = q(".loraloom-problems");
            problems.hidden = !state.problems.length;
            problems.innerHTML = state.problems.map((p) => `<div>⚠ ${esc(p)}</div>`).join("");
            this.showProgress(state.progress);
        }

        async reloadState() {
            try {
                const state = await api(this.base, "/state");
                const changed = state.model_family !== this.state.model_family || state.count !== this.state.count;
                this.applyState(state, false);
                if (changed) this.load();
            } catch (error) { /* the next load reports it */ }
        }

        showProgress(progress) {
            const label = { reading: "reading headers", hashing: "hashing" }[progress.phase];
            this.el.querySelector(".loraloom-progress").textContent =
                label ? `${label} ${progress.done}/${progress.total}…` : "";
        }

        poll() {
            if (this.polling) return;
            this.polling = true;
            let lastLoad = performance.now();
            const tick = async () => {
                try {
                    const progress = await api(this.base, "/progress");
                    this.showProgress(progress);
                    if (progress.phase === "idle") {
                        this.polling = false;
                        this.load();
                        return;
                    }
                    if (progress.phase === "reading" && performance.now() - lastLoad > 2000) {
                        lastLoad = performance.now();
                        const data = await api(this.base, "/cards");
                        this.cards = data.cards;
                        this.cardsVersion++;
                        this.filter(true);
                    }
                } catch (error) { /* keep polling */ }
                setTimeout(tick, 600);
            };
            setTimeout(tick, 300);
        }

        async refresh() {
            try {
                const progress = await api(this.base, "/refresh", {});
                this.showProgress(progress);
                await this.load();
                this.poll();
            } catch (error) {
                toast(this.el, `Refresh failed: ${error.message}`, true);
            }
        }

        mismatched(card) {
            const family = this.modelFamily();
            return !!(family && card.family && card.family !== "unknown" && card.family !== family);
        }

        filter(keepScroll) {
            const q = (s) => this.el.querySelector(s);
            const terms = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
            const favouritesOnly = q(".loraloom-favourites-only").checked;
            const hideOther = q(".loraloom-hide-other").checked;
            const folder = this.folder;
            this.shown = this.sortedCards(q(".loraloom-sort").value).filter((card) =>
                (!folder || card.folder === folder || card.folder.startsWith(folder + "/")) &&
                terms.every((t) => card.search.includes(t)) &&
                (!favouritesOnly || card.favourite) &&
                !(hideOther && this.mismatched(card)));
            const hidden = this.cards.length - this.shown.length;
            q(".loraloom-count").textContent =
                `${this.shown.length} of ${this.cards.length} LoRAs` + (hidden ? ` (${hidden} filtered)` : "");
            this.drawBreadcrumb();
            if (!keepScroll) this.scroller.scrollTop = 0;
            this.draw();
        }

        // Sorting 5,000 cards costs more than filtering them: sort once per order and card list
        // (filtering keeps the order), with one shared collator instead of localeCompare calls.
        sortedCards(sort) {
            const key = `${sort}|${this.cardsVersion}`;
            if (this.sortKey === key && this.sortedFavourites === this.favouriteSignature()) return this.sorted;
            const byName = (a, b) => COLLATOR.compare(a.name, b.name);
            const order = {
                name: byName,
                date: (a, b) => b.mtime - a.mtime || byName(a, b),
                size: (a, b) => b.size - a.size || byName(a, b),
                used: (a, b) => (b.last_used || 0) - (a.last_used || 0) || byName(a, b),
            }[sort];
            this.sorted = [...this.cards].sort((a, b) => (b.favourite - a.favourite) || order(a, b));
            this.sortKey = key;
            this.sortedFavourites = this.favouriteSignature();
            return this.sorted;
        }

        favouriteSignature() {
            let signature = "";
            for (const card of this.cards) if (card.favourite) signature += card.name + "\n";
            return signature;
        }

        drawBreadcrumb() {
            const counts = new Map();
            const prefix = this.folder ? this.folder + "/" : "";
            for (const card of this.cards) {
                if (!card.folder || (prefix && !(card.folder + "/").startsWith(prefix))) continue;
                const rest = card.folder.slice(prefix.length);
                if (!rest) continue;
                const child = prefix + rest.split("/")[0];
                counts.set(child, (counts.get(child) || 0) + 1);
            }
            const parts = this.folder ? this.folder.split("/") : [];
            let html = `<a data-folder="" class="loraloom-crumb">All</a>`;
            parts.forEach((part, i) => {
                html += ` › <a data-folder="${esc(parts.slice(0, i + 1).join("/"))}" class="loraloom-crumb">${esc(part)}</a>`;
            });
            for (const [child, count] of [...counts].sort()) {
                html += ` <a data-folder="${esc(child)}" class="loraloom-folder">▸ ${esc(child.split("/").pop())} <small>${count}</small></a>`;
            }
            this.el.querySelector(".loraloom-breadcrumb").innerHTML = html;
        }

        // Virtualised grid: only the rows in view (plus a margin) exist in the DOM.
        draw() {
            const width = this.scroller.clientWidth || 800;
            const columns = Math.max(1, Math.floor((width + GAP) / (CARD_WIDTH + GAP)));
            const rowHeight = CARD_HEIGHT + GAP;
            const rows = Math.ceil(this.shown.length / columns);
            this.grid.style.height = `${rows * rowHeight}px`;
            const top = this.scroller.scrollTop;
            const viewHeight = this.scroller.clientHeight || 600;
            const firstRow = Math.max(0, Math.floor(top / rowHeight) - 1);
            const lastRow = Math.min(rows, Math.ceil((top + viewHeight) / rowHeight) + 1);
            const html = [];
            for (let i = firstRow * columns; i < Math.min(this.shown.length, lastRow * columns); i++) {
                const x = (i % columns) * (CARD_WIDTH + GAP);
                const y = Math.floor(i / columns) * rowHeight;
                html.push(this.cardHtml(this.shown[i], x, y));
            }
            if (!this.shown.length) {
                html.push(`<div class="loraloom-empty">${this.cards.length ? "No LoRA matches." : "No LoRA files found."}</div>`);
            }
            this.grid.innerHTML = html.join("");
        }

        cardHtml(card, x, y) {
            const mismatch = this.mismatched(card);
            const thumb = card.preview
                ? `<img loading="lazy" alt="" src="${this.base}/thumb?name=${encodeURIComponent(card.name)}&v=${card.mtime}">`
                : `<div class="loraloom-initials" style="background:hsl(${hue(card.name)} 45% 42%)">${esc(initials(card.name))}</div>`;
            const badges = [];
            if (card.family) badges.push(`<span class="loraloom-badge loraloom-family-${esc(card.family)}">${esc(card.family_label || FAMILY_LABELS[card.family] || card.family)}</span>`);
            for (const kind of card.kinds) badges.push(`<span class="loraloom-badge">${esc(kind)}</span>`);
            if (card.rank) badges.push(`<span class="loraloom-badge" title="rank">r${card.rank}</span>`);
            if (card.preferred_weight) badges.push(`<span class="loraloom-badge" title="preferred weight">w ${formatWeight(card.preferred_weight)}</span>`);
            if (mismatch) badges.push(`<span class="loraloom-badge loraloom-mismatch" title="made for ${esc(FAMILY_LABELS[card.family])}, the model is ${esc(FAMILY_LABELS[this.modelFamily()])}">≠ model</span>`);
            if (card.pending) badges.push(`<span class="loraloom-badge">…</span>`);
            if (card.problems.length) badges.push(`<span class="loraloom-badge loraloom-bad" title="${esc(card.problems.join("\n"))}">⚠</span>`);
            const chips = card.trigger_words.slice(0, 6).map((w) => `<span class="loraloom-chip">${esc(w)}</span>`).join("");
            const classes = ["loraloom-card", mismatch ? "loraloom-dim" : "", card.taggable ? "" : "loraloom-untaggable"];
            return `<div class="${classes.join(" ")}" data-name="${esc(card.name)}" style="transform:translate(${x}px,${y}px)" title="${esc(card.file)}">
                <div class="loraloom-thumb">${thumb}
                    <button type="button" class="loraloom-star${card.favourite ? " loraloom-on" : ""}" title="Favourite">${card.favourite ? "★" : "☆"}</button>
                    <button type="button" class="loraloom-info" title="Details and metadata editor">i</button>
                    ${card.trigger_words.length ? `<button type="button" class="loraloom-add-words" title="Insert with trigger words (or shift-click the card)">+T</button>` : ""}
                </div>
                <div class="loraloom-card-name">${esc(card.name)}</div>
                <div class="loraloom-badges">${badges.join("")}</div>
                <div class="loraloom-chips">${chips}</div>
            </div>`;
        }

        cardByName(name) {
            return this.cards.find((c) => c.name === name);
        }

        async onCardClick(event) {
            const element = event.target.closest(".loraloom-card");
            if (!element) return;
            const name = element.dataset.name;
            const card = this.cardByName(name);
            if (event.target.closest(".loraloom-star")) return this.toggleFavourite(card);
            if (event.target.closest(".loraloom-info")) return this.openDetail(name);
            const withWords = !!event.target.closest(".loraloom-add-words") || event.shiftKey ||
                this.el.querySelector(".loraloom-with-words").checked;
            const textarea = targetPrompt();
            if (!textarea) return toast(this.el, "No prompt box found to insert into.", true);
            const words = addedWords(textarea).get(name) || [];
            const cursor = textarea.selectionStart ?? textarea.value.length;
            try {
                const result = await editPrompt(this.base, textarea, "/toggle", {
                    name, cursor, with_words: withWords, added_words: words,
                });
                if (result.action === "inserted") {
                    if (result.words_added.length) addedWords(textarea).set(name, result.words_added);
                    if (card) card.last_used = Date.now() / 1000;
                    this.cardsVersion++;
                } else {
                    addedWords(textarea).delete(name);
                }
                toast(this.el, `${result.action === "inserted" ? "Added" : "Removed"} ${name} — ${promptLabel(textarea)}`);
            } catch (error) {
                toast(this.el, error.message, true);
            }
        }

        async toggleFavourite(card) {
            try {
                await api(this.base, "/favourite", { name: card.name, favourite: !card.favourite });
                card.favourite = !card.favourite;
                this.filter(true);
            } catch (error) {
                toast(this.el, error.message, true);
            }
        }

        async openDetail(name) {
            this.detail.hidden = false;
            this.detail.innerHTML = `<div class="loraloom-detail-body">Loading ${esc(name)}…</div>`;
            try {
                const info = await api(this.base, `/detail?name=${encodeURIComponent(name)}`);
                this.detailName = name;
                this.detail.innerHTML = this.detailHtml(name, info);
            } catch (error) {
                this.detail.innerHTML = `<div class="loraloom-detail-body"><button type="button" class="loraloom-close">✕</button>${esc(error.message)}</div>`;
            }
        }

        detailHtml(name, info) {
            const user = info.user_metadata || {};
            const row = (label, value) => value === null || value === undefined || value === "" ? "" :
                `<tr><th>${esc(label)}</th><td>${esc(Array.isArray(value) ? value.join(", ") : value)}</td></tr>`;
            const frequency = Object.entries(info.tag_frequency || {}).slice(0, 30);
            const top = frequency.length ? frequency[0][1] : 1;
            const bars = frequency.map(([tag, count]) =>
                `<div class="loraloom-freq"><span style="width:${Math.max(4, (100 * count) / top)}%"></span>${esc(tag)} <small>${count}</small></div>`).join("");
            const training = Object.entries(info.training || {}).map(([k, v]) => row(k, typeof v === "object" ? JSON.stringify(v) : v)).join("");
            const text = (field, label, rows) => `<label>${label}<textarea data-field="${field}" rows="${rows}">${esc(user[field] ?? "")}</textarea></label>`;
            const number = (field, label, step) => `<label>${label}<input type="number" step="${step}" data-field="${field}" value="${esc(user[field] ?? "")}"></label>`;
            const versions = ["Unknown", "SD1", "SD2", "SDXL"].map((v) =>
                `<option${(user["sd version"] || "Unknown") === v ? " selected" : ""}>${v}</option>`).join("");
            return `<div class="loraloom-detail-body">
                <button type="button" class="loraloom-close" title="Close">✕</button>
                <h3>${esc(name)}</h3>
                <table class="loraloom-facts">
                    ${row("file", info.path)}${row("alias", info.alias)}
                    ${row("family", `${FAMILY_LABELS[info.family] || info.family} (${info.family_reason})`)}
                    ${row("kinds", Object.entries(info.kinds || {}).map(([k, n]) => `${k}×${n}`))}
                    ${row("rank / alpha", `${info.rank ?? "–"} / ${info.alpha ?? "–"}`)}
                    ${row("modules", info.modules)}${row("size", `${(info.size / 1048576).toFixed(2)} MB`)}
                    ${row("sha256", info.sha256)}${row("short hash", info.shorthash)}
                    ${row("trigger words", info.trigger_words)}${row("description", info.description)}
                    ${row("Civitai", info.civitai && [info.civitai.model, info.civitai.base_model].filter(Boolean).join(" · "))}
                </table>
                ${info.problems.length ? `<div class="loraloom-problems">${info.problems.map((p) => `<div>⚠ ${esc(p)}</div>`).join("")}</div>` : ""}
                <form class="loraloom-editor" onsubmit="return false">
                    <h4>User metadata <small>(saved to ${esc(info.path.replace(/\.[^./]+$/, ".json"))})</small></h4>
                    ${text("activation text", "Activation text (trigger words)", 2)}
                    <div class="loraloom-editor-row">${number("preferred weight", "Preferred weight (0 = default)", 0.05)}
                        ${number("weight min", "Slider min", 0.5)}${number("weight max", "Slider max", 0.5)}
                        <label>SD version<select data-field="sd version">${versions}</select></label></div>
                    ${text("negative text", "Negative prompt text", 2)}
                    ${text("description", "Description", 2)}
                    ${text("notes", "Notes", 3)}
                    <button type="button" class="loraloom-save">Save</button> <span class="loraloom-save-status"></span>
                </form>
                ${bars ? `<h4>Training tags by frequency</h4><div class="loraloom-freqs">${bars}</div>` : ""}
                ${training ? `<details><summary>Training parameters</summary><table class="loraloom-facts">${training}</table></details>` : ""}
                <details><summary>All metadata</summary><pre>${esc(JSON.stringify(info.metadata, null, 1))}</pre></details>
            </div>`;
        }

        async onDetailClick(event) {
            if (event.target.closest(".loraloom-close") || event.target === this.detail) {
                this.detail.hidden = true;
                return;
            }
            if (!event.target.closest(".loraloom-save")) return;
            const values = {};
            for (const input of this.detail.querySelectorAll("[data-field]")) values[input.dataset.field] = input.value;
            const status = this.detail.querySelector(".loraloom-save-status");
            status.textContent = "saving…";
            try {
                const card = await api(this.base, "/metadata", { name: this.detailName, values });
                const index = this.cards.findIndex((c) => c.name === card.name);
                if (index >= 0) this.cards[index] = card;
                this.cardsVersion++;
                status.textContent = "saved ✓";
                status.classList.remove("loraloom-error");
                this.filter(true);
                for (const panel of loraloom.panels) panel.refresh();
            } catch (error) {
                status.textContent = `not saved: ${error.message}`;
                status.classList.add("loraloom-error");
            }
        }
    }

    // ---- start-up: find the containers gradio rendered (and re-rendered) -----------------------

    function init() {
        const root = appRoot();
        for (const el of root.querySelectorAll(".loraloom-sliders-panel:not([data-ready])")) {
            el.dataset.ready = "1";
            loraloom.panels.push(new SliderPanel(el));
        }
        for (const el of root.querySelectorAll(".loraloom-gallery:not([data-ready])")) {
            el.dataset.ready = "1";
            loraloom.galleries.push(new Gallery(el));
        }
        loraloom.panels = loraloom.panels.filter((p) => p.el.isConnected);
        loraloom.galleries = loraloom.galleries.filter((g) => g.el.isConnected);
    }

    let scheduled = false;
    const observer = new MutationObserver(() => {
        if (scheduled) return;
        scheduled = true;
        requestAnimationFrame(() => {
            scheduled = false;
            init();
        });
    });
    const start = () => {
        observer.observe(document.documentElement, { childList: true, subtree: true });
        init();
        setInterval(init, 1500);
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
})();

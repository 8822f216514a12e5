"""WCAG contrast of what the page actually renders: computed text and background colours in Chromium.

``CONTRAST_JS(selectors)`` returns, for every element matched, its text colour, the colour behind it
(walking up to the first opaque background and compositing any translucent ones and the element's
opacity on the way) and the contrast ratio (WCAG 2.x relative luminance).
"""

from __future__ import annotations

# Normal text needs 4.5:1 (AA); large text (>= 24 px, or >= 18.66 px bold) 3:1.
AA_NORMAL = 4.5
AA_LARGE = 3.0

CONTRAST_JS = """(selectors) => {
    const parse = (c) => {
        const m = c.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return null;
        const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
        return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top, bottom) => {
        const a = top[3];
        return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
    };
    const background = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const bg = parse(getComputedStyle(e).backgroundColor);
            if (bg && bg[3] > 0) { layers.push(bg); if (bg[3] >= 1) break; }
        }
        let colour = [255, 255, 255, 1];
        if (layers.length && layers[layers.length - 1][3] >= 1) colour = layers.pop();
        else {  // nothing opaque: the canvas (dark theme paints <html>/<body>)
            const root = parse(getComputedStyle(document.body).backgroundColor);
            if (root && root[3] > 0) colour = over(root, colour);
        }
        while (layers.length) colour = over(layers.pop(), colour);
        return colour;
    };
    const opacity = (el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity); return o; };
    const lum = (c) => {
        const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
    };
    const out = [];
    for (const selector of selectors) {
        for (const el of document.querySelectorAll(selector)) {
            const r = el.getBoundingClientRect();
            if (!r.width || !r.height || !(el.innerText || "").trim()) continue;
            const style = getComputedStyle(el);
            const bg = background(el);
            let fg = parse(style.color);
            fg = over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg);
            const [a, b] = [lum(fg), lum(bg)];
            const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
            out.push({selector, text: el.innerText.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100,
                      large: size >= 24 || (bold && size >= 18.66), color: style.color,
                      background: "rgb(" + bg.slice(0, 3).map(Math.round).join(",") + ")"});
        }
    }
    return out;
}"""


def failures(measured: list[dict]) -> list[dict]:
    """The measured elements below WCAG AA for their size."""
    return [m for m in measured if m["ratio"] < (AA_LARGE if m["large"] else AA_NORMAL)]

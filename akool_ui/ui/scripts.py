"""The page's few browser-side behaviours, as JavaScript strings the layout attaches to events.

Kept here, apart from ``layout.py``, so the layout stays a tree of components. Each one is small and does
one thing a person would notice if it were missing: the result they asked for comes into view, Ctrl/Cmd+
Enter generates, a finished job announces itself in a background tab.
"""

from __future__ import annotations

__all__ = ["scroll_into_view", "PAGE_SETUP_JS", "NOTIFY_OPT_IN_JS"]


def scroll_into_view(selector: str, block: str = "start") -> str:
    """An event's ``js``: bring ``selector`` into view unless it already is entirely (the page's own
    listeners for Generate, a history click and Reuse settings). Passes its inputs through unchanged."""
    return f"""(...args) => {{
    const el = document.querySelector({selector!r});
    if (el) {{
        const r = el.getBoundingClientRect();
        if (r.top < 0 || r.bottom > window.innerHeight) el.scrollIntoView({{behavior: "smooth", block: {block!r}}});
    }}
    return args;
}}"""


# Installed once when the page loads (a ``demo.load`` with no server function):
# * Ctrl/Cmd+Enter in the prompt presses Generate (plain Enter keeps its newline);
# * while the tab is hidden, a job that finishes puts "✓"/"✗" in the tab title and, if the visitor opted
#   in, shows a browser notification; the title comes back when the tab is looked at again.
PAGE_SETUP_JS = """() => {
    if (window.__akoolStudioSetUp) return;
    window.__akoolStudioSetUp = true;
    const baseTitle = document.title;
    document.addEventListener("keydown", (e) => {
        if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey)) return;
        if (!e.target.closest || !e.target.closest("#prompt, #negative-prompt")) return;
        const button = document.querySelector("#generate");
        if (button && !button.disabled) { e.preventDefault(); button.click(); }
    }, true);
    document.addEventListener("visibilitychange", () => {
        if (!document.hidden) document.title = baseTitle;
    });
    let wasRunning = false;
    const watch = () => {
        const status = document.querySelector("#status");
        if (!status) { setTimeout(watch, 500); return; }
        new MutationObserver(() => {
            const text = status.innerText || "";
            // Only a settled status counts: the Markdown passes through other texts while it re-renders.
            if (/queued|processing|saving|sending|waiting/i.test(text)) { wasRunning = true; return; }
            if (!/done|failed|timed out|stopped|unknown/i.test(text)) return;
            if (wasRunning && document.hidden) {
                const failed = /failed|timed out|stopped|unknown/i.test(text);
                const summary = (failed ? "✗ " : "✓ ") + (failed ? "A job needs you" : "Your images are ready");
                document.title = summary + " · " + baseTitle;
                const optIn = document.querySelector("#notify input[type=checkbox]");
                if (optIn && optIn.checked && "Notification" in window && Notification.permission === "granted") {
                    new Notification(baseTitle, {body: text.split("\\n")[0].slice(0, 120)});
                }
            }
            wasRunning = false;
        }).observe(status, {childList: true, subtree: true, characterData: true});
    };
    watch();
}"""

# The "notify me" checkbox's change: ask the browser for permission when it is ticked (and untick it
# again if the visitor says no, so the box never claims what will not happen).
NOTIFY_OPT_IN_JS = """(checked) => {
    if (!checked || !("Notification" in window)) return checked && ("Notification" in window);
    if (Notification.permission === "granted") return true;
    if (Notification.permission === "denied") return false;
    Notification.requestPermission().then((answer) => {
        if (answer !== "granted") {
            const box = document.querySelector("#notify input[type=checkbox]");
            if (box && box.checked) box.click();
        }
    });
    return true;
}"""

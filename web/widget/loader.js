// Parley chat widget loader: the one script a website embeds. It reads its own tag's data
// attributes, makes an isolated container (a shadow root, so the page's CSS and the widget's
// cannot touch each other), and loads the widget module from the same Parley server.
(() => {
  const tag = document.currentScript;
  if (!tag || window.__parleyWidget) return;
  window.__parleyWidget = true;
  const base = new URL(tag.src).origin;
  // The page's own scripts may later replace or wrap these globals (and break them): the
  // widget keeps the ones that were there when it loaded.
  const config = {
    base,
    account: tag.dataset.account,
    channel: tag.dataset.channel,
    // A signed-in user, signed by the site's backend (docs/api.md "Widget identity").
    identity: tag.dataset.hash
      ? { user_id: tag.dataset.userId, email: tag.dataset.email, hash: tag.dataset.hash }
      : undefined,
    fetch: window.fetch.bind(window),
    WebSocket: window.WebSocket,
  };
  const start = () => {
    const host = document.createElement("div");
    host.id = "parley-widget";
    // `all: initial` keeps inherited page styles (fonts, visibility) out of the shadow tree.
    // Important in the style attribute outranks any page rule, `!important` ones included.
    host.style.cssText =
      "all:initial!important;display:block!important;position:fixed!important;right:0!important;" +
      "bottom:0!important;z-index:2147483000!important;overflow:visible!important;";
    // A manual popover lives in the top layer: above everything, and out of reach of the page's
    // `transform`, `filter` or `overflow` on <body>, which would otherwise trap a fixed element.
    host.popover = "manual";
    const root = host.attachShadow({ mode: "open" });
    document.body.appendChild(host);
    try {
      host.showPopover();
    } catch {
      // Older browsers: a plain fixed element, as above.
    }
    import(`${base}/widget/widget.js`)
      .then((m) => m.mount(root, config))
      .catch((e) => console.warn("Parley widget could not load", e));
  };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();

// Parley chat widget loader: the one script a website embeds. It reads its own tag's data
// attributes, makes an isolated container (a shadow root, so the page's CSS and the widget's
// cannot touch each other), and loads the widget module from the same Parley server.
(() => {
  const tag = document.currentScript;
  if (!tag || window.__parleyWidget) return;
  window.__parleyWidget = true;
  const base = new URL(tag.src).origin;
  const config = { base, account: tag.dataset.account, channel: tag.dataset.channel };
  const start = () => {
    const host = document.createElement("div");
    host.id = "parley-widget";
    // `all: initial` keeps inherited page styles (fonts, line height) out of the shadow tree.
    host.style.cssText = "all:initial;position:fixed;right:0;bottom:0;z-index:2147483000;";
    const root = host.attachShadow({ mode: "open" });
    document.body.appendChild(host);
    import(`${base}/widget/widget.js`)
      .then((m) => m.mount(root, config))
      .catch((e) => console.warn("Parley widget could not load", e));
  };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();

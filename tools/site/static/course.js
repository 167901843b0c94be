// The course website: a code block or output that scrolls sideways can be reached with the
// keyboard (Tab, then the arrow keys), as axe's scrollable-region-focusable asks.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("article pre").forEach((pre) => {
    if (!pre.hasAttribute("tabindex")) pre.setAttribute("tabindex", "0");
  });
});

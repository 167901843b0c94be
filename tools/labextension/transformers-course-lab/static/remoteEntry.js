// A JupyterLab extension without a build step: a module-federation container
// (window._JUPYTERLAB[name] with init and get) that JupyterLab's bootstrap loads like any
// prebuilt extension, found through ../package.json's "jupyterlab._build".
//
// jupyterlab-slideshow collapses the left area when the slides start and leaves it
// collapsed when they stop (Esc or the deck icon), so a lecturer back from the slides has
// no file browser. This plugin remembers whether the left area was open when deck mode
// began and opens it again when deck mode ends.
(function () {
  "use strict";
  const plugin = {
    id: "transformers-course-lab:file-browser-after-slides",
    description: "Opens the file browser again after jupyterlab-slideshow's deck mode.",
    autoStart: true,
    activate(app) {
      const presenting = () => "jpDeckMode" in document.body.dataset;  // set by the deck
      let wasPresenting = presenting();
      let leftWasOpen = !app.shell.leftCollapsed;
      app.commands.commandExecuted.connect((_, { id, result }) => {
        if (!id.startsWith("deck:")) {
          return;
        }
        const leftOpenNow = !app.shell.leftCollapsed;  // before the deck's own collapse
        Promise.resolve(result).then(() => {
          const now = presenting();
          if (now && !wasPresenting) {
            leftWasOpen = leftOpenNow;
          } else if (!now && wasPresenting && leftWasOpen) {
            app.shell.expandLeft();
          }
          wasPresenting = now;
        }, () => {});
      });
    },
  };
  // Alt text: each stored picture (a figure, or an explorer's static picture) and each live
  // explorer's picture gets the alt text of its cell, which tools/apply_alt_text.py writes
  // into the cell's metadata as mystnb.image.alt (the key the website's myst-nb reads).
  // JupyterLab's image renderer sets no alt, and outputs are drawn again whenever a cell
  // runs, so a MutationObserver labels every picture that appears in a notebook's outputs.
  const altOf = (metadata) => {
    const alt = metadata?.mystnb?.image?.alt;
    return typeof alt === "string" && alt.trim() ? alt : null;
  };
  const metadataOf = (model) => (typeof model.getMetadata === "function"
    ? { mystnb: model.getMetadata("mystnb") } : model.metadata?.toJSON?.() || model.metadata);
  const altText = {
    id: "transformers-course-lab:alt-text",
    description: "Gives the pictures in a notebook's outputs their cell's alt text.",
    autoStart: true,
    activate(app) {
      const label = (img) => {
        if (img.getAttribute("alt")) {
          return;
        }
        const cellNode = img.closest(".jp-CodeCell");
        const area = img.closest(".jp-OutputArea");
        if (!cellNode || !area) {
          return;
        }
        for (const widget of app.shell.widgets("main")) {
          const cells = widget.content?.widgets;
          if (!cells || !widget.node.contains(cellNode)) {
            continue;
          }
          const cell = cells.find((c) => c.node === cellNode);
          const alt = cell && altOf(metadataOf(cell.model));
          if (alt) {
            img.setAttribute("alt", alt);
          }
          return;
        }
      };
      // Two gaps of JupyterLab 4's own that axe reports in every notebook (tests/
      // test_accessibility.py): a cell's code editor has no name, and the cell list
      // (role="feed") holds cells without the role "article" that a feed needs.
      const nameEditor = (editor) => {
        if (!editor.getAttribute("aria-label")) {
          editor.setAttribute("aria-label", editor.closest(".jp-MarkdownCell")
            ? "Markdown cell source" : "Code cell input");
        }
      };
      const markArticle = (cell) => {
        if (!cell.getAttribute("role") && cell.parentElement?.getAttribute("role") === "feed") {
          cell.setAttribute("role", "article");
        }
      };
      // An ipywidgets slider's handle (role="slider") is not tied to its description, so
      // a screen reader announces a number with no name: name it after the description
      // shown beside it, or the widget's tooltip when it has none.
      const nameSlider = (handle) => {
        if (handle.getAttribute("aria-label")) {
          return;
        }
        const slider = handle.closest(".widget-slider");
        const text = slider?.querySelector(".widget-label")?.textContent.trim()
          || slider?.getAttribute("title") || "";
        if (text && text !== "null") {
          handle.setAttribute("aria-label", text);
        }
      };
      const scan = (root) => {
        if (root.nodeType !== 1) {
          return;
        }
        root.querySelectorAll(".widget-slider [role='slider']").forEach(nameSlider);
        if (root.tagName === "IMG") {
          label(root);
          return;
        }
        root.querySelectorAll(".jp-OutputArea img").forEach(label);
        root.querySelectorAll(".jp-Notebook .cm-content").forEach(nameEditor);
        if (root.matches(".jp-Cell")) {
          markArticle(root);
        }
        root.querySelectorAll(".jp-Cell").forEach(markArticle);
        if (root.matches(".cm-content") && root.closest(".jp-Notebook")) {
          nameEditor(root);
        }
      };
      const observer = new MutationObserver((mutations) => {
        for (const mutation of mutations) {
          if (mutation.type === "attributes") {
            label(mutation.target);  // a picture whose alt was removed
          } else {
            mutation.addedNodes.forEach(scan);
          }
        }
      });
      app.started.then(() => {
        observer.observe(document.body, { childList: true, subtree: true,
                                          attributes: true, attributeFilter: ["alt"] });
        scan(document.body);
      });
    },
  };
  const scope = "transformers-course-lab";
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[scope] = {
    init: () => Promise.resolve(),
    get: (module) => module === "./extension"
      ? Promise.resolve(() => ({ __esModule: true, default: [plugin, altText] }))
      : Promise.reject(new Error(`${scope} has no module ${module}`)),
  };
})();

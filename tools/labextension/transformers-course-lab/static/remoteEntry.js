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
  const scope = "transformers-course-lab";
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[scope] = {
    init: () => Promise.resolve(),
    get: (module) => module === "./extension"
      ? Promise.resolve(() => ({ __esModule: true, default: plugin }))
      : Promise.reject(new Error(`${scope} has no module ${module}`)),
  };
})();

// Jupyter Book 1.x (sphinx-book-theme 1.3 with pydata-sphinx-theme 0.17) attaches the
// sidebar toggles' click handlers to the *first* .primary-toggle / .secondary-toggle
// in the page (document.querySelector), a navbar icon that this layout hides. The
// visible buttons in the article header get no handler, so on a phone the navigation
// cannot be opened. Forward their clicks to the button that has the handlers.
document.addEventListener("DOMContentLoaded", () => {
  for (const selector of [".primary-toggle", ".secondary-toggle"]) {
    const [wired, ...others] = document.querySelectorAll(selector);
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        wired.click();
      });
    }
  }
});

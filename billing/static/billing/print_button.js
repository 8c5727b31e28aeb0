// A button with data-print prints the page (the admin's QR code sheet); a script file
// rather than onclick="", which the Content-Security-Policy does not run.
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});

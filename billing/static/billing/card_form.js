// The card form of every page that confirms a Stripe intent in the browser (guest
// payment, saving a card, a wallet top-up). The page renders its settings with
// json_script as "stripe-config": publishableKey, clientSecret, email, returnUrl,
// intent ("setup" for a SetupIntent, else a PaymentIntent) and needsCard (false: the
// saved card is confirmed, e.g. for 3-D Secure, and the page has no card field).
(function () {
  var config = JSON.parse(document.getElementById("stripe-config").textContent);
  var stripe = Stripe(config.publishableKey);
  var card = null;
  if (config.needsCard !== false) {
    card = stripe.elements({locale: document.documentElement.lang || "auto"}).create("card", {hidePostalCode: true});
    card.mount("#card-element");
  }
  var form = document.getElementById("card-form");
  var button = document.getElementById("card-button");
  var errors = document.getElementById("card-errors");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    errors.hidden = true;
    var details = config.email ? {email: config.email} : {};
    var data = card ? {payment_method: {card: card, billing_details: details}} : {};
    var confirm = config.intent === "setup" ? stripe.confirmCardSetup : stripe.confirmCardPayment;
    confirm.call(stripe, config.clientSecret, data).then(function (result) {
      if (result.error) {
        errors.textContent = result.error.message;
        errors.hidden = false;
        button.disabled = false;
      } else {
        window.location.assign(config.returnUrl);
      }
    });
  });
})();

/* Chapter 5: cross-entropy and squared error of one sample whose true class has
 * probability p, the other k - 1 classes sharing 1 - p equally, and the gradient of each
 * on the true class's logit through the softmax.
 * Inputs p, k; quantities ce, mse (summed over the classes), ce_grad, mse_grad. */
(function () {
  "use strict";
  var W = window.CEWidgets;
  function values(p, k) {
    var q = (1 - p) / (k - 1);
    return {
      ce: -Math.log(p),
      mse: (1 - p) * (1 - p) + (k - 1) * q * q,
      ce_grad: p - 1,
      // p * (g_true - sum_i p_i g_i) with g = 2 (p - onehot): -2 p (1 - p)^2 k / (k - 1)
      mse_grad: (-2 * p * (1 - p) * (1 - p) * k) / (k - 1),
    };
  }
  W.register("ce-vs-mse", function (fig) {
    var f = W.axes(fig.querySelector("svg"), {
      x: [0, 1], y: [0, 1], xticks: [0, 0.25, 0.5, 0.75, 1], yticks: [0, 0.25, 0.5, 0.75, 1],
    });
    var ce = W.el(f.plot, "path", { class: "ce-s1" });
    var mse = W.el(f.plot, "path", { class: "ce-s2" });
    var dots = [W.el(f.plot, "circle", { class: "ce-dot ce-dot1", r: 6 }),
                W.el(f.plot, "circle", { class: "ce-dot ce-dot2", r: 6 })];
    var k0 = null;
    return function (v) {
      var k = Math.round(v.k);
      if (k !== k0) {  // the curves change with k only
        ce.setAttribute("d", W.path(W.sample(function (p) { return -values(p, k).ce_grad; }, 0, 1, 200), f.x, f.y));
        mse.setAttribute("d", W.path(W.sample(function (p) { return -values(p, k).mse_grad; }, 0, 1, 200), f.x, f.y));
        k0 = k;
      }
      var out = values(v.p, k);
      dots[0].setAttribute("cx", f.x(v.p));
      dots[0].setAttribute("cy", f.y(-out.ce_grad));
      dots[1].setAttribute("cx", f.x(v.p));
      dots[1].setAttribute("cy", f.y(-out.mse_grad));
      return out;
    };
  });
})();

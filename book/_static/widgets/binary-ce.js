/* Chapter 1: binary cross-entropy of p against the label y, and its gradient on the logit.
 * Inputs p (probability of class 1), y (0 or 1); quantities ce (nats), grad_logit = p - y. */
(function () {
  "use strict";
  var W = window.CEWidgets;
  var YMAX = 7;
  W.register("binary-ce", function (fig) {
    var f = W.axes(fig.querySelector("svg"), {
      x: [0, 1], y: [0, YMAX], xticks: [0, 0.25, 0.5, 0.75, 1], yticks: [0, 1, 2, 3, 4, 5, 6, 7],
    });
    function loss(p, y) { return -(y ? Math.log(p) : Math.log(1 - p)); }
    var curves = [1, 0].map(function (y, i) {
      return W.el(f.plot, "path", {
        class: "ce-s" + (i + 1), d: W.path(W.sample(function (p) { return loss(p, y); }, 0.0005, 0.9995, 400), f.x, f.y),
      });
    });
    var guide = W.el(f.plot, "line", { class: "ce-guide" });
    var dot = W.el(f.plot, "circle", { class: "ce-dot", r: 6 });
    return function (v) {
      var ce = loss(v.p, v.y);
      curves[0].classList.toggle("ce-faint", v.y !== 1);
      curves[1].classList.toggle("ce-faint", v.y !== 0);
      dot.setAttribute("class", "ce-dot ce-dot" + (v.y === 1 ? 1 : 2));
      dot.setAttribute("cx", f.x(v.p));
      dot.setAttribute("cy", f.y(Math.min(ce, YMAX)));
      guide.setAttribute("x1", f.x(v.p));
      guide.setAttribute("x2", f.x(v.p));
      guide.setAttribute("y1", f.y(0));
      guide.setAttribute("y2", f.y(Math.min(ce, YMAX)));
      return { ce: ce, grad_logit: v.p - v.y };
    };
  });
})();

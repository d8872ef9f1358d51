// Draws every chart whose Plotly figure the page embeds as JSON (no inline script: CSP).
document.querySelectorAll('script.chart-spec').forEach(function (spec) {
  var figure = JSON.parse(spec.textContent);
  var target = document.getElementById(spec.dataset.target);
  Plotly.newPlot(target, figure.data, figure.layout,
                 {displaylogo: false, responsive: true}).then(function () {
    target.dataset.drawn = 'true';
  });
});

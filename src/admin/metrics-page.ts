/** A rendered metrics exposition (Prometheus text): what a node's and a front's /metrics answer. */
export interface MetricsPage {
  contentType: string;
  body: string;
}

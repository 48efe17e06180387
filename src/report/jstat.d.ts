// The parts of jstat (no bundled types) the report uses: Student's t quantile and distribution.
declare module "jstat" {
  const jStat: {
    studentt: {
      /** Quantile: the x with P(T <= x) = p for T ~ t(dof). */
      inv(p: number, dof: number): number;
      /** P(T <= x) for T ~ t(dof). */
      cdf(x: number, dof: number): number;
    };
  };
  export default jStat;
}

#!/usr/bin/env cwl-runner
# A scoring step's results.json wired to reconciler (docs/pipelines.md): the results are
# staged as SUBMISSION_ID.results.json beside the spec (spec.yaml in spec_dir), whose JSON source reads them
# (status from `submission_status`, the `auc` tag as a float), and apply writes them
# with reconciler's guarded writes: the plan, the checks and the report of the CLI.
cwlVersion: v1.2
class: Workflow
label: score a submission and write its status and scores with reconciler
inputs:
  submission_id: string
  predictions: File
  spec_dir: Directory   # the spec and its includes (this directory holds spec.yaml)
  synapse_config: File?
outputs:
  results:
    type: File
    outputSource: score/results
  report:
    type: File
    outputSource: annotate/report
steps:
  score:
    run: score.cwl
    in:
      predictions: predictions
    out: [results]
  annotate:
    run: ../apply.cwl
    in:
      spec_dir: spec_dir
      results: score/results
      submission_id: submission_id
      synapse_config: synapse_config
    out: [report]

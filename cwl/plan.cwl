#!/usr/bin/env cwl-runner
# reconciler plan as a pipeline step (docs/pipelines.md): plan a spec against its service,
# writing nothing to it; the saved plan and the report are the step's outputs.
cwlVersion: v1.2
class: CommandLineTool
label: reconciler plan
doc: |
  Reads the live state of the spec's queues and diffs it: `reconciler -q plan SPEC -o
  plan.json --format FORMAT --detailed-exitcode`. Exit code 0 (no changes) and 2
  (changes) succeed; 1 (invalid spec, blocked change, safety limit, service error)
  fails the step. The spec's directory is staged (copied) with its includes, and a scoring
  step's `results` as `SUBMISSION_ID.results.json` beside it, for a JSON source such as
  `{json: "*.results.json", id: {path: "{id}.results.json"}}`.

hints:
  SoftwareRequirement:
    packages:
      - package: evalqueue-reconciler
        version: ["0.1.0"]
  # No DockerRequirement: no image is published; add one with reconciler installed
  # (`pip install evalqueue-reconciler==0.1.0`) through your runner's overrides.
requirements:
  InitialWorkDirRequirement:
    listing:
      # copies, not links: reconciler refuses an include that resolves outside the spec's
      # directory, and a link to the runner's staging area would
      - entry: $(inputs.spec_dir)
        entryname: spec
        writable: true
      - entry: $(inputs.results)
        entryname: spec/$(inputs.submission_id).results.json
        writable: true
      - entry: $(inputs.synapse_config)
        entryname: .synapseConfig   # HOME is the step's directory: ~/.synapseConfig

baseCommand: [reconciler, -q, plan, --detailed-exitcode]
successCodes: [0, 2]
stdout: plan-report.txt

inputs:
  spec_dir:
    type: Directory
    doc: The directory holding the spec and every file its `include:` names.
  spec:
    type: string
    default: spec.yaml
    doc: The spec's path inside spec_dir.
    inputBinding: {position: 1, valueFrom: spec/$(self)}
  results:
    type: File?
    doc: A scoring step's results.json, staged as SUBMISSION_ID.results.json.
  submission_id:
    type: string?
    doc: The submission the results are for (its id names the staged file).
  synapse_config:
    type: File?
    doc: A .synapseConfig holding the Synapse token ([authentication] authtoken).
  plan_file:
    type: string
    default: plan.json
    inputBinding: {prefix: -o, position: 2}
  format:
    type:
      type: enum
      symbols: [text, json, markdown, github]
    default: markdown
    inputBinding: {prefix: --format, position: 2}

outputs:
  plan:
    type: File?
    doc: The saved plan (absent when the plan fails), for `reconciler apply PLANFILE`.
    outputBinding: {glob: $(inputs.plan_file)}
  report:
    type: stdout

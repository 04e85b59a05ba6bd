//! Plans: specialisation, constant evaluation, memory reuse, concurrent runs.

use dlopt_graph::{DataType, Dim, Graph, Node, Tensor, Value, ValueId};
use dlopt_runtime::{BuildOptions, Plan};

fn value(graph: &mut Graph, name: &str) -> ValueId {
    graph.add_value(Value {
        name: name.into(),
        data_type: Some(DataType::F32),
        ..Default::default()
    })
}

fn identity(name: &str, input: ValueId, output: ValueId) -> Node {
    Node {
        name: name.into(),
        op_type: "Identity".into(),
        inputs: vec![Some(input)],
        outputs: vec![output],
        ..Default::default()
    }
}

/// x -> a -> b -> c -> y, plus a constant through Identity to a second output.
fn chain() -> Graph {
    let mut graph = Graph::default();
    let x = value(&mut graph, "x");
    graph.value_mut(x).shape = Some(vec![Dim::symbol("N"), Dim::Fixed(3)]);
    graph.inputs.push(x);
    let names = ["a", "b", "c", "y"];
    let mut previous = x;
    for (at, name) in names.iter().enumerate() {
        let next = value(&mut graph, name);
        graph.nodes.push(identity(&format!("id{at}"), previous, next));
        previous = next;
    }
    graph.outputs.push(previous);
    let constant =
        graph.add_constant("k".into(), Tensor::from_f32(vec![2], vec![1.5, -2.0]).unwrap());
    let folded = value(&mut graph, "k_out");
    graph.nodes.push(identity("idk", constant, folded));
    graph.outputs.push(folded);
    graph.check().unwrap();
    graph
}

#[test]
fn a_plan_computes_outputs_and_folds_constants() {
    let plan = Plan::build(&chain(), &[vec![2, 3]], &BuildOptions::default()).unwrap();
    assert_eq!(plan.step_count(), 4, "the constant's node is evaluated while building");
    let input = Tensor::from_f32(vec![2, 3], (0..6).map(|v| v as f32).collect()).unwrap();
    let outputs = plan.run(std::slice::from_ref(&input)).unwrap();
    assert_eq!(outputs[0], input);
    assert_eq!(outputs[1].as_f32().unwrap(), &[1.5, -2.0]);
    // Chains reuse buffers: two intermediate slots plus the pinned output.
    assert_eq!(plan.arena_bytes(), 3 * 6 * 4);
}

#[test]
fn plans_check_shapes_against_the_graph_and_the_build() {
    let graph = chain();
    let error = Plan::build(&graph, &[vec![2, 4]], &BuildOptions::default()).unwrap_err();
    assert!(error.message.contains("declared"), "{}", error.message);
    let plan = Plan::build(&graph, &[vec![5, 3]], &BuildOptions::default()).unwrap();
    let wrong = Tensor::from_f32(vec![2, 3], vec![0.0; 6]).unwrap();
    assert!(plan.run(&[wrong]).is_err());
}

#[test]
fn unsupported_operators_are_named() {
    let mut graph = chain();
    graph.nodes[1].op_type = "NoSuchOp".into();
    let error = Plan::build(&graph, &[vec![1, 3]], &BuildOptions::default()).unwrap_err();
    assert!(error.message.contains("node 'id1' (NoSuchOp)"), "{}", error.message);
    assert!(error.message.contains("not supported"), "{}", error.message);
}

#[test]
fn one_plan_runs_on_several_threads_at_once() {
    let plan = Plan::build(&chain(), &[vec![4, 3]], &BuildOptions::default()).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let plan = &plan;
            scope.spawn(move || {
                for round in 0..200 {
                    let values: Vec<f32> = (0..12).map(|v| (v * thread + round) as f32).collect();
                    let input = Tensor::from_f32(vec![4, 3], values).unwrap();
                    assert_eq!(plan.run(std::slice::from_ref(&input)).unwrap()[0], input);
                }
            });
        }
    });
}
